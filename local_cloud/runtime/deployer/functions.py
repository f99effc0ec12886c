"""The Lambda functions: each becomes a ``LocalFunction`` that runs in-process with its role's
credentials, then its event invoke config and its SQS event source mappings."""

from __future__ import annotations

from typing import Any

from local_cloud.runtime.deployer.core import Deployed, DeployerBase, DeployError
from local_cloud.runtime.deployer.intrinsics import _Context
from local_cloud.runtime.iam_enforcement import RoleSession
from local_cloud.runtime.lambda_runtime import (
    MAX_EVENT_AGE_SECONDS,
    MAX_RETRY_ATTEMPTS,
    AsyncConfig,
    FunctionLogSink,
    LocalFunction,
)
from local_cloud.runtime.sqs_pollers import EventSourceMapping


class FunctionResources(DeployerBase):
    """Creates the Lambda functions and what configures their invocation."""

    def _assume(self, role_arn: str, function_name: str) -> dict[str, str]:
        """The role's credentials for the function, as Lambda gets them (its session name is
        the function's name), registered with the IAM check."""
        credentials = self._client("sts").assume_role(
            RoleArn=role_arn, RoleSessionName=function_name[:64]
        )["Credentials"]
        self.role_sessions[credentials["AccessKeyId"]] = RoleSession(
            account=self._account,
            role_name=role_arn.rpartition("/")[2],
            session_name=function_name[:64],
        )
        return {
            "AWS_ACCESS_KEY_ID": credentials["AccessKeyId"],
            "AWS_SECRET_ACCESS_KEY": credentials["SecretAccessKey"],
            "AWS_SESSION_TOKEN": credentials["SessionToken"],
        }

    def _create_aws_lambda_function(
        self, ctx: _Context, logical_id: str, props: dict[str, Any], raw: dict[str, Any]
    ) -> Deployed:
        name = props.get("FunctionName") or self.physical_name(ctx.stack, logical_id, 64)
        arn = self.arn("lambda", f"function:{name}")
        asset = raw.get("Metadata", {}).get("aws:asset:path")
        if asset is None:
            raise DeployError(f"{logical_id}: only asset-based functions run locally")
        environment = {
            key: str(value)
            for key, value in props.get("Environment", {}).get("Variables", {}).items()
        }
        environment.update(
            (key, value) for key, value in self._environment_overrides.items() if key in environment
        )
        sink = FunctionLogSink(self._log_dir / f"{name}.log" if self._log_dir else None)
        function = LocalFunction(
            name=name,
            arn=arn,
            handler=props["Handler"],
            environment=environment,
            timeout_seconds=float(props.get("Timeout", 3)),
            memory_mb=int(props.get("MemorySize", 128)),
            code_dir=self._code_dir,
            log_sink=sink,
            credentials=self._assume(props["Role"], name),
        )
        self.functions[arn] = function
        return Deployed(logical_id, raw["Type"], name, {"Arn": arn}, physical=function)

    def _create_aws_lambda_eventinvokeconfig(
        self, ctx: _Context, logical_id: str, props: dict[str, Any], raw: dict[str, Any]
    ) -> Deployed:
        function = self._function_named(props["FunctionName"])
        try:  # Lambda's defaults when unset; out of its ranges, Lambda refuses the config
            function.async_config = AsyncConfig(
                retry_attempts=int(props.get("MaximumRetryAttempts", MAX_RETRY_ATTEMPTS)),
                max_event_age_seconds=int(
                    props.get("MaximumEventAgeInSeconds", MAX_EVENT_AGE_SECONDS)
                ),
                on_failure_arn=props.get("DestinationConfig", {})
                .get("OnFailure", {})
                .get("Destination"),
            )
        except ValueError as err:
            raise DeployError(f"{logical_id}: {err}") from err
        return Deployed(logical_id, raw["Type"], f"{function.name}-invoke-config")

    def _create_aws_lambda_eventsourcemapping(
        self, ctx: _Context, logical_id: str, props: dict[str, Any], raw: dict[str, Any]
    ) -> Deployed:
        source = props["EventSourceArn"]
        if ":sqs:" not in source:
            raise DeployError(f"{logical_id}: only SQS event sources run locally")
        mapping = EventSourceMapping(
            function=self._function_named(props["FunctionName"]),
            queue_arn=source,
            batch_size=int(props.get("BatchSize", 10)),
            max_concurrency=int(props.get("ScalingConfig", {}).get("MaximumConcurrency", 2)),
            report_batch_item_failures="ReportBatchItemFailures"
            in props.get("FunctionResponseTypes", []),
        )
        self.event_source_mappings.append(mapping)
        return Deployed(logical_id, raw["Type"], f"{logical_id}-{mapping.function.name}")

    def _function_named(self, name_or_arn: str) -> LocalFunction:
        for function in self.functions.values():
            if name_or_arn in (function.name, function.arn):
                return function
        raise DeployError(f"no local function {name_or_arn}")

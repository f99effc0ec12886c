"""Deploys synthesised CloudFormation templates into moto, resource by resource.

Why not moto's CloudFormation: state machines it creates are not runnable by its ASL engine, and
Lambda functions would need their assets in S3 and Docker to run. So this walks each template in
dependency order, resolves the intrinsic functions CDK emits (``Ref``, ``Fn::GetAtt``,
``Fn::Join``, ``Fn::Sub``, ``Fn::Select``, ``Fn::Split``, ``Fn::ImportValue``, ``Fn::If`` and
pseudo parameters) and creates each resource through the service's API in moto. Lambda functions
become `LocalFunction`s that run in-process.

Roles and their policies are created in moto's IAM, and each function runs with its role's
credentials (``iam_enforcement`` checks its calls against them). Resource types with no runtime
effect locally (resource policies, permissions, alarms, dashboards) are recorded but not
created; any other unknown type stops the deploy, so a new kind of resource in the app cannot be
silently ignored by the local cloud.
"""

from __future__ import annotations

import graphlib
import json
import re
import secrets
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from local_cloud.runtime.api_gateway import LocalRestApi
from local_cloud.runtime.iam_enforcement import RoleSession
from local_cloud.runtime.lambda_runtime import (
    MAX_EVENT_AGE_SECONDS,
    MAX_RETRY_ATTEMPTS,
    AsyncConfig,
    FunctionLogSink,
    LocalFunction,
)
from local_cloud.runtime.sqs_pollers import EventSourceMapping

NO_RUNTIME_EFFECT = {
    "AWS::Lambda::Permission": "resource policies are not enforced locally",
    "AWS::SQS::QueuePolicy": "resource policies are not enforced locally",
    "AWS::S3::BucketPolicy": "resource policies are not enforced locally",
    "AWS::CDK::Metadata": "CDK analytics metadata",
    "AWS::CloudWatch::Alarm": "no alarms locally; the local cloud reports DLQ contents instead",
    "AWS::CloudWatch::Dashboard": "no dashboards locally",
    "AWS::SNS::Topic": "alarm notifications only",
    "AWS::SNS::Subscription": "alarm notifications only",
    "AWS::Logs::ResourcePolicy": "resource policies are not enforced locally",
}

PSEUDO_PARAMETERS = ("AWS::Region", "AWS::AccountId", "AWS::Partition", "AWS::URLSuffix")


class DeployError(RuntimeError):
    pass


@dataclass
class Deployed:
    logical_id: str
    type: str
    ref: str
    attributes: dict[str, str] = field(default_factory=dict)
    physical: Any = None
    """What the local cloud keeps for it (e.g. the LocalFunction)."""


@dataclass
class DeployedStack:
    name: str
    resources: dict[str, Deployed]
    outputs: dict[str, str]
    skipped: dict[str, str]

    def of_type(self, resource_type: str) -> list[Deployed]:
        return [r for r in self.resources.values() if r.type == resource_type]


class Deployer:
    """Deploys templates into moto. ``environment_overrides`` replaces the value of those
    variables in every function that sets them (the local cloud points the mediator's vendor URL
    at the fake vendor, whose port is only known at run time); nothing else of a template is
    changed."""

    def __init__(
        self,
        *,
        clients: Callable[[str], Any],
        account: str,
        region: str,
        code_dir: Path,
        log_dir: Path | None,
        transform_definition: Callable[[str], str] = lambda d: d,
        public_parameter: Callable[[str], str | None] = lambda path: None,
        environment_overrides: Mapping[str, str] | None = None,
    ) -> None:
        self._client = clients
        self._account = account
        self._region = region
        self._code_dir = code_dir
        self._log_dir = log_dir
        self._transform_definition = transform_definition
        self._public_parameter = public_parameter
        self._environment_overrides = dict(environment_overrides or {})
        self.exports: dict[str, str] = {}
        self.functions: dict[str, LocalFunction] = {}  # by ARN
        self.event_source_mappings: list[EventSourceMapping] = []
        self.apis: dict[str, LocalRestApi] = {}
        self.role_sessions: dict[str, RoleSession] = {}
        """The functions' role sessions, by access key."""

    # -- public -------------------------------------------------------------------------------

    def deploy(self, stack_name: str, template: dict[str, Any]) -> DeployedStack:
        ctx = _Context(self, stack_name, template)
        skipped: dict[str, str] = {}
        for logical_id in _dependency_order(template["Resources"]):
            resource = template["Resources"][logical_id]
            if "Condition" in resource and not ctx.condition(resource["Condition"]):
                continue
            kind = resource["Type"]
            if kind in NO_RUNTIME_EFFECT:
                ctx.deployed[logical_id] = self._placeholder(ctx, logical_id, kind)
                skipped[logical_id] = kind
                continue
            create = getattr(self, "_create_" + kind.replace("::", "_").lower(), None)
            if create is None:
                raise DeployError(
                    f"{stack_name}/{logical_id}: resource type {kind} is not supported by the "
                    "local cloud; teach local_cloud/runtime/deployer.py how to create it"
                )
            properties = ctx.resolve(resource.get("Properties", {}))
            ctx.deployed[logical_id] = create(ctx, logical_id, properties, resource)
        outputs = {}
        for name, output in template.get("Outputs", {}).items():
            value = str(ctx.resolve(output["Value"]))
            outputs[name] = value
            export = output.get("Export", {}).get("Name")
            if export:
                self.exports[str(ctx.resolve(export))] = value
        return DeployedStack(stack_name, ctx.deployed, outputs, skipped)

    # -- naming -------------------------------------------------------------------------------

    @staticmethod
    def physical_name(stack: str, logical_id: str, max_length: int = 64) -> str:
        """Like CloudFormation: ``<stack>-<logical id>-<random>``, within the service's limit."""
        suffix = "".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(8))
        base = re.sub(r"[^A-Za-z0-9-]", "", f"{stack}-{logical_id}")
        return f"{base[: max_length - len(suffix) - 1]}-{suffix}"

    def arn(self, service: str, resource: str) -> str:
        return f"arn:aws:{service}:{self._region}:{self._account}:{resource}"

    # -- resources ----------------------------------------------------------------------------

    def _placeholder(self, ctx: _Context, logical_id: str, kind: str) -> Deployed:
        name = self.physical_name(ctx.stack, logical_id)
        service = kind.split("::")[1].lower()
        arn = f"arn:aws:{service}::{self._account}:{name}"
        return Deployed(logical_id, kind, name, {"Arn": arn})

    def _create_aws_iam_role(
        self, ctx: _Context, logical_id: str, props: dict[str, Any], raw: dict[str, Any]
    ) -> Deployed:
        name = props.get("RoleName") or self.physical_name(ctx.stack, logical_id, 64)
        iam = self._client("iam")
        role = iam.create_role(
            RoleName=name,
            Path=props.get("Path", "/"),
            AssumeRolePolicyDocument=json.dumps(props["AssumeRolePolicyDocument"]),
        )["Role"]
        for policy in props.get("Policies", []):
            iam.put_role_policy(
                RoleName=name,
                PolicyName=policy["PolicyName"],
                PolicyDocument=json.dumps(policy["PolicyDocument"]),
            )
        for managed in props.get("ManagedPolicyArns", []):
            try:
                iam.attach_role_policy(RoleName=name, PolicyArn=managed)
            except iam.exceptions.NoSuchEntityException as error:
                raise DeployError(
                    f"{ctx.stack}/{logical_id}: managed policy {managed} is not in moto's IAM"
                ) from error
        return Deployed(
            logical_id, raw["Type"], name, {"Arn": role["Arn"], "RoleId": role["RoleId"]}
        )

    def _create_aws_iam_policy(
        self, ctx: _Context, logical_id: str, props: dict[str, Any], raw: dict[str, Any]
    ) -> Deployed:
        if props.get("Users") or props.get("Groups"):
            raise DeployError(f"{ctx.stack}/{logical_id}: only role policies run locally")
        document = json.dumps(props["PolicyDocument"])
        for role in props.get("Roles", []):
            self._client("iam").put_role_policy(
                RoleName=role, PolicyName=props["PolicyName"], PolicyDocument=document
            )
        return Deployed(logical_id, raw["Type"], props["PolicyName"])

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

    def _create_aws_dynamodb_table(
        self, ctx: _Context, logical_id: str, props: dict[str, Any], raw: dict[str, Any]
    ) -> Deployed:
        name = props.get("TableName") or self.physical_name(ctx.stack, logical_id, 255)
        args: dict[str, Any] = {
            "TableName": name,
            "KeySchema": props["KeySchema"],
            "AttributeDefinitions": props["AttributeDefinitions"],
            "BillingMode": props.get("BillingMode", "PROVISIONED"),
        }
        if args["BillingMode"] == "PROVISIONED":
            args["ProvisionedThroughput"] = props.get(
                "ProvisionedThroughput", {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}
            )
        for key in ("GlobalSecondaryIndexes", "StreamSpecification"):
            if key in props:
                args[key] = props[key]
        if "SSESpecification" in props:  # CloudFormation says SSEEnabled where the API says Enabled
            sse = dict(props["SSESpecification"])
            sse["Enabled"] = bool(sse.pop("SSEEnabled", False))
            args["SSESpecification"] = sse
        dynamodb = self._client("dynamodb")
        table = dynamodb.create_table(**args)["TableDescription"]
        ttl = props.get("TimeToLiveSpecification")
        if ttl and ttl.get("Enabled"):
            dynamodb.update_time_to_live(
                TableName=name,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl["AttributeName"]},
            )
        attributes = {"Arn": table["TableArn"]}
        if "LatestStreamArn" in table:
            attributes["StreamArn"] = table["LatestStreamArn"]
        return Deployed(logical_id, raw["Type"], name, attributes)

    def _create_aws_sqs_queue(
        self, ctx: _Context, logical_id: str, props: dict[str, Any], raw: dict[str, Any]
    ) -> Deployed:
        fifo = bool(props.get("FifoQueue"))
        name = props.get("QueueName") or self.physical_name(ctx.stack, logical_id, 75)
        if fifo and not name.endswith(".fifo"):
            name += ".fifo"
        attributes = {
            key: json.dumps(value)
            if isinstance(value, dict)
            else str(value).lower()
            if isinstance(value, bool)
            else str(value)
            for key, value in props.items()
            if key not in ("QueueName", "Tags")
        }
        url = self._client("sqs").create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        arn = self.arn("sqs", name)
        return Deployed(
            logical_id, raw["Type"], url, {"Arn": arn, "QueueName": name, "QueueUrl": url}
        )

    def _create_aws_s3_bucket(
        self, ctx: _Context, logical_id: str, props: dict[str, Any], raw: dict[str, Any]
    ) -> Deployed:
        name = props.get("BucketName") or self.physical_name(ctx.stack, logical_id, 63).lower()
        s3 = self._client("s3")
        s3.create_bucket(Bucket=name)
        rules = props.get("BucketEncryption", {}).get("ServerSideEncryptionConfiguration", [])
        if rules:  # CloudFormation says ServerSideEncryptionByDefault; the API, Apply...
            s3.put_bucket_encryption(
                Bucket=name,
                ServerSideEncryptionConfiguration={
                    "Rules": [
                        {"ApplyServerSideEncryptionByDefault": r["ServerSideEncryptionByDefault"]}
                        for r in rules
                    ]
                },
            )
        return Deployed(
            logical_id,
            raw["Type"],
            name,
            {"Arn": f"arn:aws:s3:::{name}", "DomainName": f"{name}.s3.amazonaws.com"},
        )

    def _create_aws_logs_loggroup(
        self, ctx: _Context, logical_id: str, props: dict[str, Any], raw: dict[str, Any]
    ) -> Deployed:
        name = props.get("LogGroupName") or self.physical_name(ctx.stack, logical_id, 512)
        logs = self._client("logs")
        logs.create_log_group(logGroupName=name)
        if "RetentionInDays" in props:
            logs.put_retention_policy(
                logGroupName=name, retentionInDays=int(props["RetentionInDays"])
            )
        return Deployed(
            logical_id, raw["Type"], name, {"Arn": self.arn("logs", f"log-group:{name}:*")}
        )

    def _create_aws_secretsmanager_secret(
        self, ctx: _Context, logical_id: str, props: dict[str, Any], raw: dict[str, Any]
    ) -> Deployed:
        name = props.get("Name") or self.physical_name(ctx.stack, logical_id, 256)
        value = props.get("SecretString") or secrets.token_urlsafe(32)
        arn = self._client("secretsmanager").create_secret(Name=name, SecretString=value)["ARN"]
        return Deployed(logical_id, raw["Type"], arn, {"Id": arn})

    def _create_aws_events_rule(
        self, ctx: _Context, logical_id: str, props: dict[str, Any], raw: dict[str, Any]
    ) -> Deployed:
        name = props.get("Name") or self.physical_name(ctx.stack, logical_id, 64)
        bus = props.get("EventBusName", "default")
        events = self._client("events")
        args: dict[str, Any] = {
            "Name": name,
            "EventBusName": bus,
            "State": props.get("State", "ENABLED"),
        }
        if "EventPattern" in props:
            args["EventPattern"] = json.dumps(props["EventPattern"])
        if "ScheduleExpression" in props:
            args["ScheduleExpression"] = props["ScheduleExpression"]
        if "Description" in props:
            args["Description"] = props["Description"]
        arn = events.put_rule(**args)["RuleArn"]
        if props.get("Targets"):
            events.put_targets(Rule=name, EventBusName=bus, Targets=props["Targets"])
        return Deployed(logical_id, raw["Type"], name, {"Arn": arn})

    def _create_aws_events_archive(
        self, ctx: _Context, logical_id: str, props: dict[str, Any], raw: dict[str, Any]
    ) -> Deployed:
        name = props.get("ArchiveName") or self.physical_name(ctx.stack, logical_id, 48)
        args: dict[str, Any] = {"ArchiveName": name, "EventSourceArn": props["SourceArn"]}
        if "EventPattern" in props:
            args["EventPattern"] = json.dumps(props["EventPattern"])
        if "RetentionDays" in props:
            args["RetentionDays"] = int(props["RetentionDays"])
        arn = self._client("events").create_archive(**args)["ArchiveArn"]
        return Deployed(logical_id, raw["Type"], name, {"Arn": arn})

    def _create_aws_stepfunctions_statemachine(
        self, ctx: _Context, logical_id: str, props: dict[str, Any], raw: dict[str, Any]
    ) -> Deployed:
        name = props.get("StateMachineName") or self.physical_name(ctx.stack, logical_id, 80)
        definition = props.get("DefinitionString")
        if definition is None:
            definition = json.dumps(props["Definition"])
        for key, value in props.get("DefinitionSubstitutions", {}).items():
            definition = definition.replace("${" + key + "}", str(value))
        arn = self._client("stepfunctions").create_state_machine(
            name=name,
            definition=self._transform_definition(definition),
            roleArn=props["RoleArn"],
            type=props.get("StateMachineType", "STANDARD"),
        )["stateMachineArn"]
        return Deployed(
            logical_id, raw["Type"], arn, {"Arn": arn, "Name": name}, physical=definition
        )

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

    # -- API Gateway (REST): recorded, then served by local_cloud.runtime.api_gateway ----------

    def _create_aws_apigateway_restapi(
        self, ctx: _Context, logical_id: str, props: dict[str, Any], raw: dict[str, Any]
    ) -> Deployed:
        api_id = secrets.token_hex(5)
        api = LocalRestApi(
            api_id=api_id, name=props.get("Name", logical_id), root_id=f"{api_id}-root"
        )
        self.apis[api_id] = api
        return Deployed(
            logical_id, raw["Type"], api_id, {"RootResourceId": api.root_id}, physical=api
        )

    def _create_aws_apigateway_resource(
        self, ctx: _Context, logical_id: str, props: dict[str, Any], raw: dict[str, Any]
    ) -> Deployed:
        api = self.apis[props["RestApiId"]]
        resource_id = f"{api.api_id}-{logical_id}"
        api.resources[resource_id] = (props["ParentId"], props["PathPart"])
        return Deployed(logical_id, raw["Type"], resource_id)

    def _create_aws_apigateway_method(
        self, ctx: _Context, logical_id: str, props: dict[str, Any], raw: dict[str, Any]
    ) -> Deployed:
        api = self.apis[props["RestApiId"]]
        api.methods.append((props["ResourceId"], props["HttpMethod"], props))
        return Deployed(logical_id, raw["Type"], logical_id)

    def _create_aws_apigateway_model(
        self, ctx: _Context, logical_id: str, props: dict[str, Any], raw: dict[str, Any]
    ) -> Deployed:
        name = props.get("Name") or logical_id
        self.apis[props["RestApiId"]].models[name] = props["Schema"]
        return Deployed(logical_id, raw["Type"], name)

    def _create_aws_apigateway_requestvalidator(
        self, ctx: _Context, logical_id: str, props: dict[str, Any], raw: dict[str, Any]
    ) -> Deployed:
        validator_id = f"{props['RestApiId']}-{logical_id}"
        self.apis[props["RestApiId"]].validators[validator_id] = props
        return Deployed(logical_id, raw["Type"], validator_id)

    def _create_aws_apigateway_gatewayresponse(
        self, ctx: _Context, logical_id: str, props: dict[str, Any], raw: dict[str, Any]
    ) -> Deployed:
        self.apis[props["RestApiId"]].gateway_responses[props["ResponseType"]] = props
        return Deployed(logical_id, raw["Type"], logical_id)

    def _create_aws_apigateway_stage(
        self, ctx: _Context, logical_id: str, props: dict[str, Any], raw: dict[str, Any]
    ) -> Deployed:
        self.apis[props["RestApiId"]].stage = props["StageName"]
        return Deployed(logical_id, raw["Type"], props["StageName"])

    def _create_aws_apigateway_deployment(
        self, ctx: _Context, logical_id: str, props: dict[str, Any], raw: dict[str, Any]
    ) -> Deployed:
        return Deployed(logical_id, raw["Type"], f"{props['RestApiId']}-deployment")

    def _create_aws_apigateway_account(
        self, ctx: _Context, logical_id: str, props: dict[str, Any], raw: dict[str, Any]
    ) -> Deployed:
        return Deployed(logical_id, raw["Type"], "account")  # the CloudWatch role: no effect here

    def _function_named(self, name_or_arn: str) -> LocalFunction:
        for function in self.functions.values():
            if name_or_arn in (function.name, function.arn):
                return function
        raise DeployError(f"no local function {name_or_arn}")


class _Context:
    """Intrinsic-function resolution within one stack."""

    def __init__(self, deployer: Deployer, stack: str, template: dict[str, Any]) -> None:
        self.deployer = deployer
        self.stack = stack
        self.template = template
        self.deployed: dict[str, Deployed] = {}
        self._parameters = {
            name: self._parameter(name, spec)
            for name, spec in template.get("Parameters", {}).items()
        }

    def _parameter(self, name: str, spec: dict[str, Any]) -> str:
        if spec.get("Type", "").startswith("AWS::SSM::Parameter::Value"):
            path = spec["Default"]
            public = self.deployer._public_parameter(path)
            if public is not None:
                return public
            try:
                response = self.deployer._client("ssm").get_parameter(Name=path)
            except Exception as err:
                raise DeployError(
                    f"{self.stack}: SSM parameter {path} (for {name}) is missing"
                ) from err
            return str(response["Parameter"]["Value"])
        if "Default" not in spec:
            raise DeployError(f"{self.stack}: parameter {name} has no default")
        return str(spec["Default"])

    def pseudo(self, name: str) -> str:
        return {
            "AWS::Region": self.deployer._region,
            "AWS::AccountId": self.deployer._account,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": self.stack,
            "AWS::StackId": self.deployer.arn("cloudformation", f"stack/{self.stack}/local"),
        }[name]

    def ref(self, name: str) -> str:
        if name in self._parameters:
            return self._parameters[name]
        if name.startswith("AWS::"):
            return self.pseudo(name)
        if name not in self.deployed:
            raise DeployError(f"{self.stack}: Ref to {name}, which is not deployed (yet)")
        return self.deployed[name].ref

    def get_att(self, name: str, attribute: str) -> str:
        resource = self.deployed.get(name)
        if resource is None:
            raise DeployError(f"{self.stack}: GetAtt {name}.{attribute} before {name} exists")
        if attribute not in resource.attributes:
            raise DeployError(
                f"{self.stack}: {resource.type} {name} has no attribute {attribute} locally"
            )
        return resource.attributes[attribute]

    def condition(self, name: str) -> bool:
        return bool(self.resolve(self.template["Conditions"][name]))

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [item for item in (self.resolve(v) for v in value) if item is not _NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref":
                return _NO_VALUE if arg == "AWS::NoValue" else self.ref(arg)
            if key == "Fn::GetAtt":
                name, attribute = arg if isinstance(arg, list) else arg.split(".", 1)
                return self.get_att(name, attribute)
            if key == "Fn::Join":
                separator, items = arg
                return separator.join(str(v) for v in self.resolve(items))
            if key == "Fn::Sub":
                return self._sub(arg)
            if key == "Fn::Select":
                index, items = self.resolve(arg)
                return items[int(index)]
            if key == "Fn::Split":
                separator, text = self.resolve(arg)
                return str(text).split(separator)
            if key == "Fn::ImportValue":
                return self.deployer.exports[self.resolve(arg)]
            if key == "Fn::If":
                name, if_true, if_false = arg
                return self.resolve(if_true if self.condition(name) else if_false)
            if key == "Fn::Equals":
                left, right = self.resolve(arg)
                return left == right
            if key == "Fn::Not":
                return not self.resolve(arg[0])
            if key == "Fn::And":
                return all(self.resolve(arg))
            if key == "Fn::Or":
                return any(self.resolve(arg))
            if key == "Condition":
                return self.condition(arg)
            if key.startswith("Fn::"):
                raise DeployError(f"{self.stack}: intrinsic {key} is not supported locally")
        resolved = {k: self.resolve(v) for k, v in value.items()}
        return {k: v for k, v in resolved.items() if v is not _NO_VALUE}

    def _sub(self, arg: Any) -> str:
        text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], self.resolve(arg[1]))

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in variables:
                return str(variables[name])
            if "." in name:
                resource, attribute = name.split(".", 1)
                return self.get_att(resource, attribute)
            return self.ref(name)

        return re.sub(r"\$\{([^}!]+)\}", replace, text)


_NO_VALUE = object()


def _dependency_order(resources: dict[str, Any]) -> list[str]:
    """Resources sorted so each comes after everything it references."""

    def references(value: Any, found: set[str]) -> set[str]:
        if isinstance(value, dict):
            for key, arg in value.items():
                if key == "Ref" and isinstance(arg, str) and arg in resources:
                    found.add(arg)
                elif key == "Fn::GetAtt":
                    name = arg[0] if isinstance(arg, list) else str(arg).split(".", 1)[0]
                    if name in resources:
                        found.add(name)
                elif key == "Fn::Sub":
                    text = arg if isinstance(arg, str) else arg[0]
                    for name in re.findall(r"\$\{([^}.!]+)", text):
                        if name in resources:
                            found.add(name)
                    if not isinstance(arg, str):
                        references(arg[1], found)
                else:
                    references(arg, found)
        elif isinstance(value, list):
            for item in value:
                references(item, found)
        return found

    graph = {}
    for logical_id, resource in resources.items():
        deps = references(resource.get("Properties", {}), set())
        depends_on = resource.get("DependsOn", [])
        deps.update([depends_on] if isinstance(depends_on, str) else depends_on)
        graph[logical_id] = deps - {logical_id}

    # Each round takes every resource whose dependencies are deployed, in name order, so the
    # order is the same on every run.
    sorter = graphlib.TopologicalSorter({node: sorted(graph[node]) for node in sorted(graph)})
    try:
        sorter.prepare()
    except graphlib.CycleError as cycle:
        raise DeployError(f"dependency cycle: {' -> '.join(cycle.args[1])}") from None
    ordered: list[str] = []
    while sorter.is_active():
        ready = sorted(sorter.get_ready())
        ordered += ready
        sorter.done(*ready)
    return ordered


def camel_case_aws_sdk(definition: str) -> str:
    """moto's ``aws-sdk:*`` integrations accept only camelCase parameter names (``taskToken``);
    AWS requires the PascalCase (``TaskToken``) the synthesised definition has. Lower-case the
    first letter of the parameter names of every aws-sdk task, recursively through states."""
    document = json.loads(definition)

    def camel(name: str) -> str:
        return name[:1].lower() + name[1:]

    def visit_states(states: dict[str, Any]) -> None:
        for state in states.values():
            resource = state.get("Resource", "")
            if ":states:::aws-sdk:" in resource and isinstance(state.get("Parameters"), dict):
                state["Parameters"] = {camel(k): v for k, v in state["Parameters"].items()}
            for branch in state.get("Branches", []):
                visit_states(branch["States"])
            for key in ("Iterator", "ItemProcessor"):
                if key in state:
                    visit_states(state[key]["States"])

    visit_states(document["States"])
    return json.dumps(document)

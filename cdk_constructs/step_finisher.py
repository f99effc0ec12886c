"""Seed 004's Step Finisher: an Express state machine that resumes waiting tasks, no Lambda."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from cdk_constructs.default_bus import BusRule, DefaultBus
from cdk_constructs.nag import STATE_MACHINE_WILDCARD_REASON, acknowledge

CLOSED_TOKEN_ERRORS = [
    "Sfn.InvalidTokenException",
    "Sfn.TaskTimedOutException",
    "Sfn.TaskDoesNotExistException",
]
"""A duplicate or late answer: the token is already closed. Logged (the failed task is in the
finisher's log group) and dropped, never retried."""

TRANSIENT_ERRORS = ["Sfn.SfnException", "Sfn.ThrottlingException"]

MALFORMED_ANSWER_ERROR = "MalformedWorkerAnswer"
"""What the waiting task fails with when its answer lacks the output (or the error and cause)
it must carry: the order fails at once with a named error, instead of the finisher failing on a
missing path and the task waiting for its heartbeat."""


class StepFinisher(Construct):
    """On ``event_pattern`` (a worker's answer), calls ``sfn:sendTaskSuccess`` with the token and
    output taken from the event, or ``sfn:sendTaskFailure`` when the event's detail type is
    ``failed_detail_type``. Only ``target`` may be resumed (IAM scoped to its ARN).

    Attributes: ``state_machine`` (the Express finisher), ``rule`` (the rule and its DLQ).
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        bus: DefaultBus,
        target: sfn.IStateMachine,
        event_pattern: Mapping[str, Any],
        failed_detail_type: str,
        token_path: str = "$.detail.TaskToken",
        output_path: str = "$.detail.result",
        error_path: str = "$.detail.error",
        cause_path: str = "$.detail.cause",
        log_group_name: str | None = None,
        log_retention: logs.RetentionDays = logs.RetentionDays.ONE_MONTH,
        log_removal_policy: RemovalPolicy = RemovalPolicy.DESTROY,
    ) -> None:
        super().__init__(scope, id)
        token_closed = sfn.Succeed(self, "TokenAlreadyClosed", comment="duplicate or late answer")

        def resume(
            action: str, parameters: dict[str, str], id: str | None = None
        ) -> tasks.CallAwsService:
            call = tasks.CallAwsService(
                self,
                id or action[0].upper() + action[1:],
                service="sfn",
                action=action,
                iam_action=f"states:{action[0].upper()}{action[1:]}",
                iam_resources=[target.state_machine_arn],
                # PascalCase: what the aws-sdk integration requires on AWS.
                parameters={"TaskToken": sfn.JsonPath.string_at(token_path), **parameters},
            )
            call.add_retry(
                errors=TRANSIENT_ERRORS,
                max_attempts=3,
                interval=Duration.seconds(1),
                backoff_rate=2,
                jitter_strategy=sfn.JitterType.FULL,
            )
            call.add_catch(token_closed, errors=CLOSED_TOKEN_ERRORS)
            return call

        send_success = resume(
            "sendTaskSuccess",
            {"Output": sfn.JsonPath.json_to_string(sfn.JsonPath.object_at(output_path))},
        )
        send_failure = resume(
            "sendTaskFailure",
            {
                "Error": sfn.JsonPath.string_at(error_path),
                "Cause": sfn.JsonPath.string_at(cause_path),
            },
        )

        reject_malformed = resume(
            "sendTaskFailure",
            {
                "Error": MALFORMED_ANSWER_ERROR,
                "Cause": f"a worker answer without {output_path} (to finish) or "
                f"{error_path} and {cause_path} (to fail): a bug in the worker",
            },
            id="RejectMalformedAnswer",
        )
        # The bracket form: a field name with punctuation, as the JSONPath docs write it.
        failed = sfn.Condition.string_equals("$['detail-type']", failed_detail_type)
        definition = (
            sfn.Choice(self, "FinishedOrFailed")
            .when(
                sfn.Condition.and_(
                    failed,
                    sfn.Condition.is_present(error_path),
                    sfn.Condition.is_present(cause_path),
                ),
                send_failure,
            )
            .when(
                sfn.Condition.and_(
                    sfn.Condition.not_(failed), sfn.Condition.is_present(output_path)
                ),
                send_success,
            )
            .otherwise(reject_malformed)
        )
        self.log_group = logs.LogGroup(
            self,
            "Logs",
            log_group_name=log_group_name,
            retention=log_retention,
            removal_policy=log_removal_policy,
        )
        self.state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            definition_body=sfn.DefinitionBody.from_chainable(definition),
            state_machine_type=sfn.StateMachineType.EXPRESS,
            timeout=Duration.minutes(1),
            tracing_enabled=True,
            # ERROR level logs every failed resume (closed tokens included) without putting task
            # tokens and outputs of every successful one into CloudWatch.
            logs=sfn.LogOptions(
                destination=self.log_group, level=sfn.LogLevel.ERROR, include_execution_data=False
            ),
        )
        acknowledge(
            self.state_machine, "AwsSolutions-IAM5[Resource::*]", STATE_MACHINE_WILDCARD_REASON
        )
        acknowledge(
            self.state_machine,
            "AwsSolutions-SF1",
            "ALL-level logging would write every task token and worker result to CloudWatch; "
            "ERROR logs every failed resume (closed tokens included), which is what we act on",
        )
        self.rule: BusRule = bus.add_state_machine_rule(
            f"{id}Answers",
            state_machine=self.state_machine,
            event_pattern=event_pattern,
            description="Worker answers (TASK_FINISHED / TASK_FAILED) to the Step Finisher",
        )

"""A Standard state machine whose steps are events: ``events:putEvents.waitForTaskToken``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from aws_cdk import Aws, CfnElement, Duration, RemovalPolicy, Stack
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from cdk_constructs.default_bus import DefaultBus
from cdk_constructs.nag import STATE_MACHINE_WILDCARD_REASON, acknowledge

JSON_DISCARD = sfn.JsonPath.DISCARD

WAIT_TIMEOUT_ERRORS = ["States.HeartbeatTimeout", "States.Timeout"]
"""What a waiting task fails with when nobody answers in time. Retrying re-puts the event with a
new task token, so a lost event or a crashed worker costs a delay, not the order."""

PUT_EVENTS_ERRORS = [
    "EventBridge.FailedEntry",
    "EventBridge.ThrottlingException",
    "EventBridge.EventBridgeException",
    "EventBridge.InternalException",
    "EventBridge.SdkClientException",
]
"""What the task fails with when EventBridge does not take its request: ``FailedEntry`` when the
``PutEvents`` answer has a failed entry (throttled, internal failure — AWS's docs for the
optimized integration), and the ``EventBridge.<exception>`` names Step Functions gives the
service's own errors (its pattern for every optimized integration, as in
``Lambda.ServiceException``): ``ThrottlingException`` when the whole request is over the
account's ``PutEvents`` quota (EventBridge's API model declares that exception, so it keeps its
name), ``EventBridgeException`` for an error the model does not declare. Nothing was put, so
the request is simply put again: AWS's guidance for service exceptions is a retry with backoff
(and jitter, so throttled executions do not come back in step)."""

LAMBDA_ASYNC_RETRY_DELAYS = (Duration.minutes(1), Duration.minutes(2))
"""When Lambda runs a failed asynchronous invocation again: a minute after the first attempt,
two minutes after the second (AWS Lambda developer guide, "How Lambda handles errors and
retries with asynchronous invocation")."""


def lambda_retries_within(heartbeat: Duration, function_timeout: Duration) -> int:
    """How many of Lambda's own retries of a worker can still answer before the step's heartbeat
    expires. A retry that comes later only finds the step re-sent with a new token (or the order
    moved on): it can do no good, and the state machine's own retry has taken its place."""
    elapsed = function_timeout.to_seconds()
    retries = 0
    for delay in LAMBDA_ASYNC_RETRY_DELAYS:
        elapsed += delay.to_seconds() + function_timeout.to_seconds()
        if elapsed > heartbeat.to_seconds():
            break
        retries += 1
    return retries


def lambda_max_event_age(heartbeat: Duration) -> Duration:
    """An event that waited (throttled) longer than the step's heartbeat is stale: the step was
    re-sent with a new token. Lambda accepts 60 s to 6 h."""
    return Duration.seconds(min(max(heartbeat.to_seconds(), 60), 6 * 3600))


@dataclass(frozen=True)
class WaitPolicy:
    """How a waiting task waits: ``heartbeat`` is how long it waits for an answer (nobody sends
    heartbeats, so this is the effective answer deadline), ``timeout`` bounds the task as a whole
    (Step Functions requires heartbeat < timeout), and ``retries`` is how often the request is
    re-put after a timeout."""

    heartbeat: Duration
    timeout: Duration
    retries: int = 2
    retry_interval: Duration = Duration.seconds(2)
    backoff_rate: float = 2.0

    @property
    def attempts(self) -> int:
        return 1 + self.retries

    def __post_init__(self) -> None:
        if self.heartbeat.to_seconds() >= self.timeout.to_seconds():
            raise ValueError(
                f"heartbeat ({self.heartbeat.to_seconds()} s) must be shorter than the task "
                f"timeout ({self.timeout.to_seconds()} s)"
            )
        if self.retries < 0:
            raise ValueError("retries must be >= 0")


def add_wait_retries(
    task: sfn.TaskStateBase | sfn.CustomState,
    policy: WaitPolicy,
    service_errors: Sequence[str],
    service_retries: int,
) -> None:
    """A waiting task's retries: the request again after a timeout (``policy.retries``, with
    jitter), and again with backoff when the service did not take it (``service_errors``)."""
    if policy.retries:
        task.add_retry(
            errors=WAIT_TIMEOUT_ERRORS,
            max_attempts=policy.retries,
            interval=policy.retry_interval,
            backoff_rate=policy.backoff_rate,
            jitter_strategy=sfn.JitterType.FULL,
        )
    if service_errors:
        task.add_retry(
            errors=list(service_errors),
            max_attempts=service_retries,
            interval=Duration.seconds(1),
            backoff_rate=2,
            max_delay=Duration.seconds(30),
            jitter_strategy=sfn.JitterType.FULL,
        )


VENDED_LOGS_PREFIX = "/aws/vendedlogs/states/"


def vended_log_group_name(state_machine_name: str) -> str:
    """A state machine's log group under ``/aws/vendedlogs/``: CloudWatch Logs then needs no
    resource-policy entry per log group for Step Functions to deliver to it (the account's
    resource policies are limited to 5,120 characters, which enough state machines exhaust)."""
    return f"{VENDED_LOGS_PREFIX}{state_machine_name}"


class EventDrivenStateMachine(Construct):
    """Seed 004's purely event-driven state machine.

    Every unit of work but an ``invoke_step`` is an ``EventBridgePutEvents`` task with
    ``WAIT_FOR_TASK_TOKEN`` on the default bus, with ``HeartbeatSeconds``, ``TimeoutSeconds``, a
    retry on timeouts and a retry with backoff and jitter when EventBridge does not take the
    request (``PUT_EVENTS_ERRORS``):

    * ``worker_step`` — a Lambda does the work: one call creates the task and the rule that sends
      its request to the Lambda; the token travels in ``TaskToken`` and the worker answers with an
      event the Step Finisher turns into ``SendTaskSuccess``/``SendTaskFailure``. The Lambda's
      asynchronous retries are aligned with the step's heartbeat: Lambda retries a failed
      invocation one and three minutes later, which with a short heartbeat is after the state
      machine re-sent the step with a new token, so only the retries that can still answer in
      time are kept (none with the one-minute default), and an event older than the heartbeat
      is not run at all. The worker's writes must still be conditional on its step being
      current: "at least once" allows a late run anyway.
    * ``callback_step`` — somebody else answers (another service, a person); the caller decides
      where the token goes in the detail (e.g. ``data.loyalty_request_id``).
      ``execution_named_callback_step`` also names the execution in the event's ``resources``.
    * ``invoke_step`` — the one kind that is not an event: seed 002's
      ``lambda:invoke.waitForTaskToken``, for a step whose token must not travel on the bus (a
      person answers through an API) and whose function's failure must fail the step at once.

    Chain the steps with ordinary states, then call ``build(definition)``. The machine has X-Ray
    tracing and CloudWatch logging on. Attributes: ``state_machine`` (after ``build``),
    ``log_group``, ``bus``.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        bus: DefaultBus,
        default_wait: WaitPolicy,
        timeout: Duration,
        state_machine_name: str | None = None,
        token_field: str = "TaskToken",
        put_events_retries: int = 6,
        log_level: sfn.LogLevel = sfn.LogLevel.ERROR,
        log_retention: logs.RetentionDays = logs.RetentionDays.ONE_MONTH,
        log_removal_policy: RemovalPolicy = RemovalPolicy.DESTROY,
    ) -> None:
        super().__init__(scope, id)
        self.bus = bus
        self._default_wait = default_wait
        self._timeout = timeout
        self._state_machine_name = state_machine_name
        self._token_field = token_field
        self._put_events_retries = put_events_retries
        self._log_level = log_level
        self.log_group = logs.LogGroup(
            self,
            "Logs",
            log_group_name=vended_log_group_name(state_machine_name)
            if state_machine_name
            else None,
            retention=log_retention,
            removal_policy=log_removal_policy,
        )
        self._state_machine: sfn.StateMachine | None = None

    @property
    def state_machine(self) -> sfn.StateMachine:
        if self._state_machine is None:
            raise RuntimeError("call build(definition) before using the state machine")
        return self._state_machine

    def worker_step(
        self,
        id: str,
        *,
        detail_type: str,
        event_pattern: Mapping[str, Any],
        function: lambda_.Function,
        detail: Mapping[str, Any],
        result_path: str | None = None,
        wait: WaitPolicy | None = None,
        comment: str | None = None,
    ) -> tasks.EventBridgePutEvents:
        """A step done by ``function``: the request (``detail`` plus the task token in the token
        field) goes to it through a rule with ``event_pattern``. ``result_path`` None discards the
        worker's result and passes the step's input through."""
        task = self.callback_step(
            id,
            detail_type=detail_type,
            detail={**detail, self._token_field: sfn.JsonPath.task_token},
            result_path=result_path,
            wait=wait,
            comment=comment,
        )
        policy = wait or self._default_wait
        timeout = function.timeout or Duration.seconds(3)
        self.bus.add_lambda_rule(
            f"{id}Requests",
            function=function,
            event_pattern=event_pattern,
            description=f"{id} step requests to its worker",
            lambda_retry_attempts=lambda_retries_within(policy.heartbeat, timeout),
            lambda_max_event_age=lambda_max_event_age(policy.heartbeat),
        )
        return task

    def invoke_step(
        self,
        id: str,
        *,
        function: lambda_.IFunction,
        payload: Mapping[str, Any],
        result_path: str | None = None,
        wait: WaitPolicy | None = None,
        crash_retries: int = 2,
        final_errors: Sequence[str] = (),
        comment: str | None = None,
    ) -> tasks.LambdaInvoke:
        """A step whose function is invoked directly (``lambda:invoke.waitForTaskToken``) and
        whose answer comes later, from elsewhere: a person, through an API that holds the token.
        The token travels in the payload's token field, never on the bus. Unlike a
        ``worker_step``, whose lost invocation waits out its heartbeat, a function that fails
        fails the task at once: it is invoked again ``crash_retries`` times, then the task fails
        with the function's error. ``final_errors`` (a person's "no", sent with the token) are
        never retried: they go straight to the step's catches."""
        policy = wait or self._default_wait
        task = tasks.LambdaInvoke(
            self,
            id,
            lambda_function=function,
            integration_pattern=sfn.IntegrationPattern.WAIT_FOR_TASK_TOKEN,
            payload=sfn.TaskInput.from_object(
                {**payload, self._token_field: sfn.JsonPath.task_token}
            ),
            heartbeat_timeout=sfn.Timeout.duration(policy.heartbeat),
            task_timeout=sfn.Timeout.duration(policy.timeout),
            result_path=result_path or sfn.JsonPath.DISCARD,
            comment=comment,
        )
        function_id = Stack.of(function).get_logical_id(
            cast(CfnElement, function.node.default_child)
        )
        acknowledge(
            self,
            f"AwsSolutions-IAM5[Resource::<{function_id}.Arn>:*]",
            "Written by CDK's LambdaInvoke: lambda:InvokeFunction on this one function and its "
            "versions and aliases (<arn>:*); no other function",
        )
        acknowledge(
            function,
            "Serverless-LambdaDLQ",
            "Invoked synchronously by the state machine (lambda:invoke.waitForTaskToken): a "
            "DeadLetterConfig only applies to asynchronous invocations; a failure fails the "
            "task, which is retried, then caught",
        )
        if final_errors:
            task.add_retry(errors=list(final_errors), max_attempts=0)
        if crash_retries:
            task.add_retry(
                errors=["States.TaskFailed"],
                max_attempts=crash_retries,
                interval=Duration.seconds(2),
                backoff_rate=2,
                jitter_strategy=sfn.JitterType.FULL,
            )
        return task

    def callback_step(
        self,
        id: str,
        *,
        detail_type: str,
        detail: Mapping[str, Any],
        result_path: str | None = None,
        result_selector: Mapping[str, Any] | None = None,
        wait: WaitPolicy | None = None,
        comment: str | None = None,
    ) -> tasks.EventBridgePutEvents:
        """A step that puts ``detail`` (which must carry ``JsonPath.task_token`` somewhere) and
        waits for whoever answers."""
        policy = wait or self._default_wait
        task = tasks.EventBridgePutEvents(
            self,
            id,
            entries=[
                tasks.EventBridgePutEventsEntry(
                    detail=sfn.TaskInput.from_object(dict(detail)),
                    detail_type=detail_type,
                    source=self.bus.event_source,
                    event_bus=self.bus.bus,
                )
            ],
            integration_pattern=sfn.IntegrationPattern.WAIT_FOR_TASK_TOKEN,
            heartbeat_timeout=sfn.Timeout.duration(policy.heartbeat),
            task_timeout=sfn.Timeout.duration(policy.timeout),
            result_path=result_path or sfn.JsonPath.DISCARD,
            result_selector=result_selector,
            comment=comment,
        )
        self._add_retries(task, policy)
        return task

    def execution_named_callback_step(
        self,
        id: str,
        *,
        detail_type: str,
        detail: Mapping[str, Any],
        result_path: str,
        result_selector: Mapping[str, Any] | None = None,
        wait: WaitPolicy | None = None,
        comment: str | None = None,
    ) -> sfn.CustomState:
        """A ``callback_step`` whose event names the execution in its ``resources``
        (EventBridge's field for the resources an event concerns), so whoever answers can tell
        one run of the same work from another without a field in the detail. It is the task
        ``EventBridgePutEvents`` renders plus ``Resources``, which that class does not offer;
        written out as JSON, it cannot discard its result (``result_path`` is required)."""
        policy = wait or self._default_wait
        if result_path in (None, JSON_DISCARD):
            raise ValueError(f"{id}: a step that names its execution needs a result_path")
        state: dict[str, Any] = {
            "Type": "Task",
            "Resource": f"arn:{Aws.PARTITION}:states:::events:putEvents.waitForTaskToken",
            "Parameters": {
                "Entries": [
                    {
                        "Detail": sfn.FieldUtils.render_object(dict(detail)),
                        "DetailType": detail_type,
                        "EventBusName": self.bus.bus.event_bus_arn,
                        "Source": self.bus.event_source,
                        "Resources.$": "States.Array($$.Execution.Id)",
                    }
                ]
            },
            "HeartbeatSeconds": int(policy.heartbeat.to_seconds()),
            "TimeoutSeconds": int(policy.timeout.to_seconds()),
            "ResultPath": result_path,
        }
        if result_selector is not None:
            state["ResultSelector"] = sfn.FieldUtils.render_object(dict(result_selector))
        if comment:
            state["Comment"] = comment
        task = sfn.CustomState(self, id, state_json=state)
        self._add_retries(task, policy)
        return task

    def _add_retries(self, task: sfn.TaskStateBase | sfn.CustomState, policy: WaitPolicy) -> None:
        add_wait_retries(task, policy, PUT_EVENTS_ERRORS, self._put_events_retries)

    def name_timeouts(
        self,
        task: sfn.TaskStateBase,
        *,
        step: str,
        then: sfn.IChainable,
        wait: WaitPolicy | None = None,
        error: str = "StepTimedOut",
        result_path: str = "$.error",
    ) -> None:
        """When ``task`` has waited out all its attempts, continue to ``then`` with an error that
        names the step (``{"Error": error, "Cause": "<step> did not answer in N attempts ..."}``
        at ``result_path``) instead of Step Functions' ``States.Timeout``, which says neither
        which step nor why, and which a ``Fail`` state may not even raise. Call it before adding
        a catch-all, so timeouts match this catch first."""
        policy = wait or self._default_wait
        named = sfn.Pass(
            self,
            f"{task.node.id}TimedOut",
            parameters={
                "Error": error,
                "Cause": f"{step} did not answer in {policy.attempts} attempts "
                f"(each waited {policy.heartbeat.to_seconds():.0f} s)",
            },
            result_path=result_path,
        )
        named.next(then)
        task.add_catch(named, errors=WAIT_TIMEOUT_ERRORS, result_path=JSON_DISCARD)

    def build(self, definition: sfn.IChainable) -> sfn.StateMachine:
        if self._state_machine is not None:
            raise RuntimeError("build() was already called")
        self._state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            state_machine_name=self._state_machine_name,
            definition_body=sfn.DefinitionBody.from_chainable(definition),
            state_machine_type=sfn.StateMachineType.STANDARD,
            timeout=self._timeout,
            tracing_enabled=True,
            logs=sfn.LogOptions(
                destination=self.log_group, level=self._log_level, include_execution_data=True
            ),
        )
        # As this bus's source only: a task written out as JSON brings no policy of its own, and
        # the deny this adds also binds the unconditioned allow of CDK's EventBridgePutEvents.
        self.bus.grant_put_events(self._state_machine)
        acknowledge(
            self._state_machine, "AwsSolutions-IAM5[Resource::*]", STATE_MACHINE_WILDCARD_REASON
        )
        acknowledge(
            self._state_machine,
            "AwsSolutions-SF1",
            "A Standard workflow: Step Functions keeps every event of every execution in its "
            "execution history (90 days); CloudWatch gets the ERROR events with their data",
        )
        return self._state_machine

"""Seed 001's other ways for a Standard state machine to wait for work done elsewhere, beside
``EventDrivenStateMachine``'s EventBridge callback: each one readable call with safe defaults (a
heartbeat and a timeout on every wait, retries on the service's own exceptions, a history budget
for loops, grants for exactly the resources involved).

* ``sqs_callback_step`` — ``sqs:sendMessage.waitForTaskToken``: the request waits in a queue for a
  consumer, which answers with the token. Use it when the worker must pace itself (a queue
  absorbs bursts) and one consumer owns the work; the token travels in the message.
* ``activity_step`` — an activity: a worker anywhere (a store's back-office system that cannot
  receive pushes) pulls work with ``GetActivityTask``, heartbeats while it works and answers with
  the token. Use it when the worker cannot be called, only call out.
* ``job_poller`` — a bounded Wait/Choice loop around a job started elsewhere: every poll costs
  state transitions and history events (seed 001's own warning), so the number of polls is
  derived from a history budget and the loop fails with a named error past it. Use it only when
  nobody can call back.
* ``child_job_step`` — ``states:startExecution.sync:2`` of a child state machine (an Express
  child for short internal steps): one task waits for the child's whole run. Use it to group
  steps that need no waiting of their own.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_cdk import Duration
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from cdk_constructs.event_driven_state_machine import WaitPolicy, add_wait_retries

SQS_SERVICE_ERRORS = ["SQS.SdkClientException", "SQS.AmazonSQSException"]
"""What a ``sqs:sendMessage`` task fails with when SQS does not take the message (Step
Functions' ``<Service>.<Exception>`` names): nothing was sent, so it is sent again."""

SFN_SERVICE_ERRORS = ["StepFunctions.SdkClientException", "StepFunctions.AWSStepFunctionsException"]
"""What a ``states:startExecution`` task fails with when the child could not be started."""

STANDARD_HISTORY_LIMIT = 25_000
"""Events a Standard execution's history may hold; past it the execution fails."""

EVENTS_PER_POLL = 11
"""History events one round of the job poller writes: the Wait (entered, exited), the status
task (entered, scheduled, started, succeeded, exited), the Choice (entered, exited) and the
counter's Pass (entered, exited)."""


def max_polls(history_budget: int) -> int:
    """How many polls fit in ``history_budget`` events of the execution's history."""
    if not 0 < history_budget <= STANDARD_HISTORY_LIMIT:
        raise ValueError(f"history_budget must be 1..{STANDARD_HISTORY_LIMIT} events")
    return history_budget // EVENTS_PER_POLL


class StepKinds(Construct):
    """Makes steps of seed 001's patterns for one state machine, with ``default_wait`` unless a
    step is given its own; a callback's request carries its task token in ``token_field``. The
    states are this construct's children; chain them as usual."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        default_wait: WaitPolicy,
        token_field: str,
        service_retries: int = 4,
    ) -> None:
        super().__init__(scope, id)
        self._default_wait = default_wait
        self._token_field = token_field
        self._service_retries = service_retries

    def sqs_callback_step(
        self,
        id: str,
        *,
        queue: sqs.IQueue,
        message: Mapping[str, Any],
        result_path: str | None = None,
        wait: WaitPolicy | None = None,
    ) -> tasks.SqsSendMessage:
        """Send ``message`` plus the task token (in the token field) to ``queue`` and wait for its
        consumer's ``SendTaskSuccess``/``SendTaskFailure``. The state machine may send to this
        queue only (CDK's grant)."""
        policy = wait or self._default_wait
        task = tasks.SqsSendMessage(
            self,
            id,
            queue=queue,
            message_body=sfn.TaskInput.from_object(
                {**message, self._token_field: sfn.JsonPath.task_token}
            ),
            integration_pattern=sfn.IntegrationPattern.WAIT_FOR_TASK_TOKEN,
            heartbeat_timeout=sfn.Timeout.duration(policy.heartbeat),
            task_timeout=sfn.Timeout.duration(policy.timeout),
            result_path=result_path or sfn.JsonPath.DISCARD,
        )
        self._retry(task, policy, SQS_SERVICE_ERRORS)
        return task

    def activity_step(
        self,
        id: str,
        *,
        activity: sfn.IActivity,
        input: Mapping[str, Any],
        result_path: str | None = None,
        wait: WaitPolicy | None = None,
    ) -> tasks.StepFunctionsInvokeActivity:
        """Offer ``input`` to ``activity``'s workers and wait for one to finish it. The worker
        must heartbeat (``SendTaskHeartbeat``) more often than the policy's heartbeat: a worker
        that dies is noticed then, and the work offered again (the policy's retries)."""
        policy = wait or self._default_wait
        task = tasks.StepFunctionsInvokeActivity(
            self,
            id,
            activity=activity,
            parameters=dict(input),
            heartbeat_timeout=sfn.Timeout.duration(policy.heartbeat),
            task_timeout=sfn.Timeout.duration(policy.timeout),
            result_path=result_path or sfn.JsonPath.DISCARD,
        )
        self._retry(task, policy, [])
        return task

    def child_job_step(
        self,
        id: str,
        *,
        state_machine: sfn.IStateMachine,
        input: Mapping[str, Any],
        timeout: Duration,
        result_path: str | None = None,
    ) -> tasks.StepFunctionsStartExecution:
        """Run ``state_machine`` with ``input`` and wait for its end (``.sync:2``: the child's
        output as JSON at ``result_path``, under ``Output``). The child's execution is named
        after the parent's, so the console links them; a child that fails fails the task with
        its error (``States.TaskFailed``), which the caller catches."""
        task = tasks.StepFunctionsStartExecution(
            self,
            id,
            state_machine=state_machine,
            integration_pattern=sfn.IntegrationPattern.RUN_JOB,
            input=sfn.TaskInput.from_object(dict(input)),
            associate_with_parent=True,
            task_timeout=sfn.Timeout.duration(timeout),
            result_selector={"Output.$": "$.Output"},
            result_path=result_path or sfn.JsonPath.DISCARD,
        )
        task.add_retry(
            errors=SFN_SERVICE_ERRORS,
            max_attempts=self._service_retries,
            interval=Duration.seconds(1),
            backoff_rate=2,
            jitter_strategy=sfn.JitterType.FULL,
        )
        return task

    def job_poller(
        self,
        id: str,
        *,
        check: sfn.TaskStateBase,
        done: sfn.Condition,
        failed: sfn.Condition,
        interval: Duration,
        history_budget: int = 5_000,
        counter_path: str = "$.polls",
    ) -> JobPoller:
        """A loop that waits ``interval``, runs ``check`` (a request/response task that writes the
        job's status into the state) and stops when ``done`` (success) or ``failed`` (a ``Fail``
        with ``JobFailed``) holds, or after ``max_polls(history_budget)`` polls (``Fail`` with
        ``JobPollLimitExceeded``). The count lives at ``counter_path`` (``{"count": n}``).
        ``check``'s own failures are its own: give it retries and catches as for any task."""
        return JobPoller(
            self,
            id,
            check=check,
            done=done,
            failed=failed,
            interval=interval,
            polls=max_polls(history_budget),
            counter_path=counter_path,
        )

    def _retry(self, task: sfn.TaskStateBase, policy: WaitPolicy, service: list[str]) -> None:
        add_wait_retries(task, policy, service, self._service_retries)


def grant_activity_worker(activity: sfn.IActivity, worker: iam.IGrantable) -> None:
    """What an activity's worker needs: take work from this activity, heartbeat and answer."""
    iam.Grant.add_to_principal(
        grantee=worker,
        actions=[
            "states:GetActivityTask",
            "states:SendTaskHeartbeat",
            "states:SendTaskSuccess",
            "states:SendTaskFailure",
        ],
        resource_arns=[activity.activity_arn],
    )


class JobPoller(sfn.StateMachineFragment):
    """Seed 001's job poller, bounded: ``start_state`` is the counter's reset, the one end state
    is reached once the job is done."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        check: sfn.TaskStateBase,
        done: sfn.Condition,
        failed: sfn.Condition,
        interval: Duration,
        polls: int,
        counter_path: str,
    ) -> None:
        super().__init__(scope, id)
        self.max_polls = polls
        count_field = f"{counter_path}.count"
        reset = sfn.Pass(
            self,
            "ResetPolls",
            result=sfn.Result.from_object({"count": 0}),
            result_path=counter_path,
        )
        pause = sfn.Wait(self, "WaitBeforePoll", time=sfn.WaitTime.duration(interval))
        count = sfn.Pass(
            self,
            "CountPoll",
            parameters={"count.$": f"States.MathAdd({count_field}, 1)"},
            result_path=counter_path,
        )
        self._end = sfn.Pass(self, "JobDone")
        too_many = sfn.Fail(
            self,
            "TooManyPolls",
            error="JobPollLimitExceeded",
            cause=f"the job did not finish in {polls} polls of {interval.to_seconds():.0f} s",
        )
        job_failed = sfn.Fail(self, "JobFailedState", error="JobFailed", cause="the job failed")
        decide = (
            sfn.Choice(self, "JobFinished")
            .when(done, self._end)
            .when(failed, job_failed)
            .when(sfn.Condition.number_greater_than_equals(count_field, polls - 1), too_many)
            .otherwise(count)
        )
        count.next(pause)
        reset.next(pause)
        pause.next(check)
        check.next(decide)
        self._start = reset

    @property
    def start_state(self) -> sfn.State:
        return self._start

    @property
    def end_states(self) -> list[sfn.INextable]:
        return [self._end]

"""Seed 001's integration patterns side by side: one Standard state machine per pattern, each
waiting for the same unit of simulated work (``lambdas/patterns_demo/work.py``). Not part of the
loyalty app: ``build_patterns_app`` makes an app of this stack alone, which ``bench.patterns``
and the tests deploy on the local cloud (and which deploys to AWS like any app).

The activity's worker runs outside (``workers/activity_worker.py``: a back-office process); the
stack gives it a role (``activity_worker_role``) and outputs the activity's ARN.
moto runs neither activities nor ``states:startExecution.sync:2``; the local cloud fills both
gaps (``local_cloud/runtime/moto_patches/activities.py``, ``child_executions.py``).
"""

from __future__ import annotations

from typing import Any

from aws_cdk import App, CfnOutput, Duration, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from cdk_constructs import (
    DefaultBus,
    EventDrivenStateMachine,
    PowertoolsFunction,
    QueueConsumer,
    StepKinds,
    WaitPolicy,
    grant_activity_worker,
    powertools_layer,
)
from loyalty.contract import TASK_TOKEN_FIELD

PATTERNS_STACK = "LoyaltyPatternsDemo"
EVENT_SOURCE = "loyalty-patterns-demo"
WORK_DETAIL_TYPE = "patterns.work"
PATTERNS = ("eventbridge_callback", "sqs_callback", "job_poller", "child_job", "activity")
"""The patterns this stack runs; each state machine's ARN is the output named after it."""

WAIT = WaitPolicy(heartbeat=Duration.minutes(15), timeout=Duration.minutes(30), retries=1)
ACTIVITY_WAIT = WaitPolicy(heartbeat=Duration.seconds(30), timeout=Duration.minutes(30), retries=1)
"""The activity's worker heartbeats: a dead one is noticed in 30 s and its work offered again."""
ACTIVITY_OUTPUT = "BackOfficeActivity"
POLL_INTERVAL = Duration.seconds(2)
WORK_INPUT = {"work_seconds.$": "$.work_seconds"}


def output_name(pattern: str) -> str:
    return "".join(part.capitalize() for part in pattern.split("_")) + "Machine"


class PatternsDemoStack(Stack):
    """Attributes: ``machines`` (pattern → state machine)."""

    def __init__(
        self, scope: Construct, id: str, *, powertools_version: str, **kwargs: Any
    ) -> None:
        super().__init__(scope, id, **kwargs)
        layer = powertools_layer(self, powertools_version=powertools_version)
        bus = DefaultBus(self, "Bus", event_source=EVENT_SOURCE)
        kinds = StepKinds(self, "Kinds", default_wait=WAIT, token_field=TASK_TOKEN_FIELD)

        def worker(name: str, handler: str, timeout: Duration) -> lambda_.Function:
            return PowertoolsFunction(
                self,
                name,
                handler=f"patterns_demo.work.{handler}",
                description=f"patterns demo: {name}",
                service_name=EVENT_SOURCE,
                metrics_namespace="LoyaltyPatternsDemo",
                layer=layer,
                timeout=timeout,
            ).function

        work_timeout = Duration.minutes(11)  # up to 600 s of work, then the answer
        self.machines: dict[str, sfn.StateMachine] = {}

        # EventBridge callback (the app's own pattern).
        flow = EventDrivenStateMachine(
            self, "EventBridgeCallback", bus=bus, default_wait=WAIT, timeout=Duration.hours(1)
        )
        on_event = worker("EventWorker", "on_event", work_timeout)
        flow.bus.add_lambda_rule(
            "Work",
            function=on_event,
            event_pattern={"source": [EVENT_SOURCE], "detail-type": [WORK_DETAIL_TYPE]},
            description="the demo's work requests",
            answers=False,
        )
        step = flow.callback_step(
            "Work",
            detail_type=WORK_DETAIL_TYPE,
            detail={**WORK_INPUT, TASK_TOKEN_FIELD: sfn.JsonPath.task_token},
            result_path="$.result",
        )
        self.machines["eventbridge_callback"] = flow.build(step)

        # SQS callback.
        on_messages = worker("QueueWorker", "on_messages", work_timeout)
        queue = QueueConsumer(
            self,
            "Work",
            function=on_messages,
            batch_size=1,
            max_concurrency=50,
            visibility_timeout=Duration.seconds(6 * work_timeout.to_seconds()),
            retention_period=Duration.days(1),
            max_receive_count=3,
        )
        self.machines["sqs_callback"] = self._machine(
            "SqsCallback",
            kinds.sqs_callback_step(
                "WorkInQueue", queue=queue.queue, message=WORK_INPUT, result_path="$.result"
            ),
        )

        # Job poller: start the job, then ask how it stands every POLL_INTERVAL.
        start = tasks.LambdaInvoke(
            self,
            "StartJob",
            lambda_function=worker("JobStarter", "start_job", Duration.seconds(10)),
            payload=sfn.TaskInput.from_object(WORK_INPUT),
            payload_response_only=True,
            result_path="$.job",
        )
        check = tasks.LambdaInvoke(
            self,
            "AskJob",
            lambda_function=worker("JobStatus", "job_status", Duration.seconds(10)),
            payload=sfn.TaskInput.from_object({"due_at.$": "$.job.due_at"}),
            payload_response_only=True,
            result_path="$.job",
        )
        poller = kinds.job_poller(
            "Poll",
            check=check,
            done=sfn.Condition.string_equals("$.job.status", "DONE"),
            failed=sfn.Condition.string_equals("$.job.status", "FAILED"),
            interval=POLL_INTERVAL,
        )
        self.machines["job_poller"] = self._machine("JobPoller", start.next(poller))

        # Run a job: an Express child does the work (here: waits for it) and the parent waits
        # for the child's end.
        work = sfn.Wait(self, "DoTheWork", time=sfn.WaitTime.seconds_path("$.work_seconds"))
        worked = sfn.Pass(self, "Worked", parameters={"worked_seconds.$": "$.work_seconds"})
        child = sfn.StateMachine(
            self,
            "WorkChild",
            definition_body=sfn.DefinitionBody.from_chainable(work.next(worked)),
            state_machine_type=sfn.StateMachineType.EXPRESS,
            timeout=Duration.minutes(5),
        )
        self.machines["child_job"] = self._machine(
            "ChildJob",
            kinds.child_job_step(
                "RunChild",
                state_machine=child,
                input=WORK_INPUT,
                timeout=Duration.minutes(15),
                result_path="$.result",
            ),
        )

        # Activity: a back-office worker pulls the work and heartbeats while it works.
        activity = sfn.Activity(self, "BackOffice")
        self.activity_worker_role = iam.Role(
            self,
            "BackOfficeWorker",
            assumed_by=iam.AccountRootPrincipal(),
            description="Assumed by the back-office process that serves the demo's activity",
        )
        grant_activity_worker(activity, self.activity_worker_role)
        self.machines["activity"] = self._machine(
            "ActivityWorker",
            kinds.activity_step(
                "BackOfficeWork",
                activity=activity,
                input=WORK_INPUT,
                result_path="$.result",
                wait=ACTIVITY_WAIT,
            ),
        )
        CfnOutput(self, ACTIVITY_OUTPUT, value=activity.activity_arn)

        for pattern, machine in self.machines.items():
            CfnOutput(self, output_name(pattern), value=machine.state_machine_arn)
        # Each callback worker answers its own machine's steps only.
        self.machines["eventbridge_callback"].grant_task_response(on_event)
        self.machines["sqs_callback"].grant_task_response(on_messages)

    def _machine(self, id: str, definition: sfn.IChainable) -> sfn.StateMachine:
        return sfn.StateMachine(
            self,
            id,
            definition_body=sfn.DefinitionBody.from_chainable(definition),
            state_machine_type=sfn.StateMachineType.STANDARD,
            timeout=Duration.hours(1),
        )


def build_patterns_app(context: dict[str, Any], outdir: str | None = None) -> App:
    """An app of the patterns stack alone, with the loyalty app's account, region and
    Powertools version from ``context``."""
    app = App(context=context, outdir=outdir)
    PatternsDemoStack(
        app,
        PATTERNS_STACK,
        powertools_version=str(context["loyalty:powertoolsVersion"]),
        env={"account": context.get("loyalty:account"), "region": context.get("loyalty:region")},
    )
    return app

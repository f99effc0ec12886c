"""The L3 constructs on their own, in a minimal stack: what one call gives you."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk import App, Duration, Stack
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk.assertions import Match, Template

from cdk_constructs import (
    DefaultBus,
    EventDrivenStateMachine,
    PowertoolsFunction,
    StepFinisher,
    WaitPolicy,
)
from cdk_constructs.step_finisher import MALFORMED_ANSWER_ERROR
from tests.infrastructure.asl import definition

PATTERN = {"source": ["test.source"], "detail-type": ["thing.happened"]}


def function(stack: Stack, id: str, timeout: Duration | None = None) -> lambda_.Function:
    return lambda_.Function(
        stack,
        id,
        runtime=lambda_.Runtime.PYTHON_3_14,
        handler="index.handler",
        code=lambda_.Code.from_inline("def handler(event, context): pass"),
        timeout=timeout,
    )


@pytest.fixture
def stack() -> Stack:
    return Stack(App(), "TestStack", env={"account": "111111111111", "region": "eu-west-1"})


def test_lambda_rule_gets_pattern_retries_dlq_env_and_put_events(stack: Stack) -> None:
    bus = DefaultBus(stack, "Bus", event_source="test.service")
    fn = function(stack, "Fn")

    rule = bus.add_lambda_rule("Things", function=fn, event_pattern=PATTERN, description="things")

    template = Template.from_stack(stack)
    template.has_resource_properties(
        "AWS::Events::Rule",
        {
            "EventPattern": PATTERN,
            "EventBusName": "default",
            "Targets": [
                Match.object_like(
                    {
                        "RetryPolicy": {
                            "MaximumRetryAttempts": 185,
                            "MaximumEventAgeInSeconds": 86400,
                        },
                        "DeadLetterConfig": {"Arn": Match.any_value()},
                    }
                )
            ],
        },
    )
    template.has_resource_properties(
        "AWS::Lambda::Function",
        {"Environment": {"Variables": {"EVENT_BUS": "default", "EVENT_SOURCE": "test.service"}}},
    )
    template.has_resource_properties(
        "AWS::Lambda::EventInvokeConfig",
        {
            "MaximumRetryAttempts": 2,
            "DestinationConfig": {"OnFailure": {"Destination": Match.any_value()}},
        },
    )
    template.has_resource_properties(
        "AWS::IAM::Policy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with([Match.object_like({"Action": "events:PutEvents"})])
            }
        },
    )
    assert rule.dead_letter_queue is not None


def test_a_lambda_that_does_not_answer_gets_no_bus_env_or_put_events(stack: Stack) -> None:
    bus = DefaultBus(stack, "Bus", event_source="test.service")
    bus.add_lambda_rule(
        "Things",
        function=function(stack, "Fn"),
        event_pattern=PATTERN,
        description="x",
        answers=False,
    )

    template = Template.from_stack(stack)
    for fn in template.find_resources("AWS::Lambda::Function").values():
        assert "EVENT_BUS" not in fn["Properties"].get("Environment", {}).get("Variables", {})
    assert not template.find_resources(
        "AWS::IAM::Policy",
        {
            "Properties": {
                "PolicyDocument": {
                    "Statement": Match.array_with(
                        [Match.object_like({"Action": "events:PutEvents"})]
                    )
                }
            }
        },
    )


def test_an_aws_source_is_refused(stack: Stack) -> None:
    with pytest.raises(ValueError, match=r"aws\."):
        DefaultBus(stack, "Bus", event_source="aws.fake")


def test_wait_policy_needs_a_heartbeat_shorter_than_the_timeout() -> None:
    with pytest.raises(ValueError, match="heartbeat"):
        WaitPolicy(heartbeat=Duration.seconds(60), timeout=Duration.seconds(60))


def _machine(stack: Stack) -> tuple[EventDrivenStateMachine, Any]:
    bus = DefaultBus(stack, "Bus", event_source="test.service")
    flow = EventDrivenStateMachine(
        stack,
        "Flow",
        bus=bus,
        default_wait=WaitPolicy(heartbeat=Duration.seconds(30), timeout=Duration.seconds(90)),
        timeout=Duration.hours(1),
    )
    step = flow.worker_step(
        "DoThing",
        detail_type="thing.do",
        event_pattern=PATTERN,
        function=function(stack, "Worker"),
        detail={"id.$": "$.id"},
        result_path="$.thing",
    )
    return flow, step


def test_worker_step_is_a_waiting_put_events_task_with_its_rule(stack: Stack) -> None:
    flow, step = _machine(stack)
    flow.build(step)

    template = Template.from_stack(stack)
    template.resource_count_is("AWS::Events::Rule", 1)
    (machine,) = template.find_resources("AWS::StepFunctions::StateMachine").values()
    text = "".join(
        p for p in machine["Properties"]["DefinitionString"]["Fn::Join"][1] if isinstance(p, str)
    )
    assert ":states:::events:putEvents.waitForTaskToken" in text
    assert '"HeartbeatSeconds":30' in text
    assert '"TimeoutSeconds":90' in text
    assert '"TaskToken.$":"$$.Task.Token"' in text
    assert '"Source":"test.service"' in text


@pytest.mark.parametrize(
    ("heartbeat", "function_timeout", "retries", "max_age"),
    [
        (30, 3, 0, 60),  # the first retry (a minute later) would come after the heartbeat
        (60, 30, 0, 60),  # the app's worker steps
        (200, 30, 1, 200),  # a minute later still answers in time; three minutes do not
        (600, 30, 2, 600),
        (7 * 24 * 3600, 30, 2, 6 * 3600),  # a person's step: Lambda's own limits
    ],
)
def test_a_workers_own_retries_are_aligned_with_its_steps_heartbeat(
    stack: Stack, heartbeat: int, function_timeout: int, retries: int, max_age: int
) -> None:
    flow = EventDrivenStateMachine(
        stack,
        "Flow",
        bus=DefaultBus(stack, "Bus", event_source="test.service"),
        default_wait=WaitPolicy(
            heartbeat=Duration.seconds(heartbeat), timeout=Duration.seconds(heartbeat + 60)
        ),
        timeout=Duration.days(8),
    )
    flow.worker_step(
        "DoThing",
        detail_type="thing.do",
        event_pattern=PATTERN,
        function=function(stack, "Worker", timeout=Duration.seconds(function_timeout)),
        detail={},
    )

    Template.from_stack(stack).has_resource_properties(
        "AWS::Lambda::EventInvokeConfig",
        {"MaximumRetryAttempts": retries, "MaximumEventAgeInSeconds": max_age},
    )


def test_the_state_machine_exists_only_after_build(stack: Stack) -> None:
    flow, step = _machine(stack)
    with pytest.raises(RuntimeError, match="build"):
        _ = flow.state_machine
    flow.build(step)
    with pytest.raises(RuntimeError, match="already"):
        flow.build(step)


def _finisher(stack: Stack) -> StepFinisher:
    flow, step = _machine(stack)
    flow.build(step)
    return StepFinisher(
        stack,
        "Finisher",
        bus=flow.bus,
        target=flow.state_machine,
        event_pattern={"detail-type": ["DONE", "FAILED"]},
        failed_detail_type="FAILED",
    )


def test_step_finisher_rule_targets_the_express_finisher_with_a_dlq(stack: Stack) -> None:
    _finisher(stack)

    template = Template.from_stack(stack)
    template.has_resource_properties(
        "AWS::StepFunctions::StateMachine", {"StateMachineType": "EXPRESS"}
    )
    template.has_resource_properties(
        "AWS::Events::Rule",
        {
            "EventPattern": {"detail-type": ["DONE", "FAILED"]},
            "Targets": [
                Match.object_like(
                    {"DeadLetterConfig": Match.any_value(), "RoleArn": Match.any_value()}
                )
            ],
        },
    )


def test_a_state_machine_rule_can_start_any_machine(stack: Stack) -> None:
    bus = DefaultBus(stack, "Bus", event_source="test.service")
    machine = sfn.StateMachine(
        stack, "M", definition_body=sfn.DefinitionBody.from_chainable(sfn.Pass(stack, "P"))
    )
    bus.add_state_machine_rule(
        "Start", state_machine=machine, event_pattern=PATTERN, description="start"
    )
    Template.from_stack(stack).has_resource_properties(
        "AWS::IAM::Policy",
        {"PolicyDocument": {"Statement": [Match.object_like({"Action": "states:StartExecution"})]}},
    )


def test_the_step_finisher_fails_the_task_on_an_answer_it_cannot_use(stack: Stack) -> None:
    _finisher(stack)

    states = definition(Template.from_stack(stack), "EXPRESS")["States"]
    choice = states["FinishedOrFailed"]
    to_failure, to_success = choice["Choices"]
    assert to_failure["Next"] == "SendTaskFailure"
    assert {"Variable": "$.detail.error", "IsPresent": True} in to_failure["And"]
    assert {"Variable": "$.detail.cause", "IsPresent": True} in to_failure["And"]
    assert to_success["Next"] == "SendTaskSuccess"
    assert {"Variable": "$.detail.result", "IsPresent": True} in to_success["And"]
    # anything else (a TASK_FINISHED without a result...) fails the waiting task, by name
    assert choice["Default"] == "RejectMalformedAnswer"
    reject = states["RejectMalformedAnswer"]
    assert reject["Parameters"]["Error"] == MALFORMED_ANSWER_ERROR
    assert reject["Catch"][0]["Next"] == "TokenAlreadyClosed"


def test_a_powertools_function_owns_its_role_and_log_group(stack: Stack) -> None:
    layer = lambda_.LayerVersion.from_layer_version_arn(
        stack, "Layer", "arn:aws:lambda:eu-west-1:111111111111:layer:powertools:1"
    )
    made = PowertoolsFunction(
        stack,
        "Worker",
        handler="order_processing.recognise.handler",
        description="a worker",
        service_name="test.service",
        metrics_namespace="Test",
        layer=layer,
    )
    PowertoolsFunction(
        stack,
        "Other",
        handler="order_processing.validate.handler",
        description="another worker",
        service_name="test.service",
        metrics_namespace="Test",
        layer=layer,
    )

    assert made.function.node.scope is made
    assert made.role.node.scope is made
    assert made.log_group.node.scope is made
    template = Template.from_stack(stack)
    resolve = stack.resolve
    (worker,) = [
        props["Properties"]
        for props in template.find_resources("AWS::Lambda::Function").values()
        if props["Properties"]["Description"] == "a worker"
    ]
    assert worker["Role"] == resolve(made.role.role_arn)
    assert worker["LoggingConfig"]["LogGroup"] == resolve(made.log_group.log_group_name)
    # The role writes to its own function's log group and nowhere else; no managed policies.
    (policy,) = [
        p["Properties"]["PolicyDocument"]["Statement"]
        for p in template.find_resources("AWS::IAM::Policy").values()
        if p["Properties"]["Roles"] == [resolve(made.role.role_name)]
    ]
    log_statements = [s for s in policy if any(a.startswith("logs:") for a in s["Action"])]
    assert [s["Resource"] for s in log_statements] == [resolve(made.log_group.log_group_arn)]
    assert "ManagedPolicyArns" not in template.find_resources("AWS::IAM::Role")[
        stack.get_logical_id(made.role.node.default_child)  # type: ignore[arg-type]
    ].get("Properties", {})

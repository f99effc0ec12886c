"""Seed 001's step kinds (`cdk_constructs.step_kinds`): what one call gives you in the template,
and the job poller's loop run on moto's ASL engine."""

from __future__ import annotations

import time
from typing import Any

import boto3
import pytest
from aws_cdk import App, Duration, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from aws_cdk.assertions import Template
from moto import mock_aws

from cdk_constructs import WaitPolicy
from cdk_constructs.event_driven_state_machine import WAIT_TIMEOUT_ERRORS
from cdk_constructs.step_kinds import (
    EVENTS_PER_POLL,
    SFN_SERVICE_ERRORS,
    SQS_SERVICE_ERRORS,
    StepKinds,
    grant_activity_worker,
    max_polls,
)
from tests.infrastructure.asl import definition

WAIT = WaitPolicy(heartbeat=Duration.seconds(60), timeout=Duration.seconds(300), retries=2)


def _machine(stack: Stack, chain: sfn.IChainable) -> sfn.StateMachine:
    return sfn.StateMachine(
        stack,
        "Machine",
        definition_body=sfn.DefinitionBody.from_chainable(chain),
        state_machine_type=sfn.StateMachineType.STANDARD,
    )


def _states(template: Template) -> dict[str, Any]:
    return definition(template, "STANDARD")["States"]  # type: ignore[no-any-return]


def _role_statements(template: Template) -> list[dict[str, Any]]:
    return [
        statement
        for policy in template.find_resources("AWS::IAM::Policy").values()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


@pytest.fixture
def stack() -> Stack:
    return Stack(App(), "Kinds", env={"account": "111111111111", "region": "eu-west-1"})


def test_an_sqs_callback_sends_the_token_waits_with_a_heartbeat_and_may_send_there_only(
    stack: Stack,
) -> None:
    queue = sqs.Queue(stack, "Work")
    step = StepKinds(stack, "Kinds", default_wait=WAIT, token_field="TaskToken").sqs_callback_step(
        "Reserve", queue=queue, message={"order.$": "$.order"}
    )
    _machine(stack, step)
    template = Template.from_stack(stack)

    state = _states(template)["Reserve"]
    assert state["Resource"].endswith(":states:::sqs:sendMessage.waitForTaskToken")
    assert state["Parameters"]["MessageBody"] == {
        "order.$": "$.order",
        "TaskToken.$": "$$.Task.Token",
    }
    assert (state["HeartbeatSeconds"], state["TimeoutSeconds"]) == (60, 300)
    assert [r["ErrorEquals"] for r in state["Retry"]] == [WAIT_TIMEOUT_ERRORS, SQS_SERVICE_ERRORS]
    sends = [s for s in _role_statements(template) if s["Action"] == "sqs:SendMessage"]
    assert [s["Resource"] for s in sends] == [stack.resolve(queue.queue_arn)]


def test_an_activity_step_waits_on_its_activity_and_its_worker_may_serve_that_one_only(
    stack: Stack,
) -> None:
    activity = sfn.Activity(stack, "BackOffice")
    worker = iam.Role(stack, "Worker", assumed_by=iam.AccountRootPrincipal())
    step = StepKinds(stack, "Kinds", default_wait=WAIT, token_field="TaskToken").activity_step(
        "Reserve", activity=activity, input={"order.$": "$.order"}
    )
    grant_activity_worker(activity, worker)
    _machine(stack, step)
    template = Template.from_stack(stack)

    state = _states(template)["Reserve"]
    assert state["Resource"] == "TOKEN"  # the activity's ARN (a Ref), as `definition` reads it
    (machine,) = template.find_resources("AWS::StepFunctions::StateMachine").values()
    assert (
        stack.resolve(activity.activity_arn)
        in machine["Properties"]["DefinitionString"]["Fn::Join"][1]
    )
    assert state["Parameters"] == {"order.$": "$.order"}
    assert state["HeartbeatSeconds"] == 60
    assert [r["ErrorEquals"] for r in state["Retry"]] == [WAIT_TIMEOUT_ERRORS]
    (served,) = [s for s in _role_statements(template) if "states:GetActivityTask" in s["Action"]]
    assert served["Resource"] == stack.resolve(activity.activity_arn)
    assert set(served["Action"]) == {
        "states:GetActivityTask",
        "states:SendTaskHeartbeat",
        "states:SendTaskSuccess",
        "states:SendTaskFailure",
    }


def test_a_child_job_runs_the_child_to_its_end_linked_to_its_parent(stack: Stack) -> None:
    child = sfn.StateMachine(
        stack,
        "Child",
        definition_body=sfn.DefinitionBody.from_chainable(sfn.Pass(stack, "Prepare")),
        state_machine_type=sfn.StateMachineType.EXPRESS,
    )
    step = StepKinds(stack, "Kinds", default_wait=WAIT, token_field="TaskToken").child_job_step(
        "Prepare", state_machine=child, input={"order.$": "$.order"}, timeout=Duration.minutes(5)
    )
    _machine(stack, step)
    template = Template.from_stack(stack)

    state = _states(template)["Prepare"]
    assert state["Resource"].endswith(":states:::states:startExecution.sync:2")
    assert state["Parameters"]["Input"]["AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID.$"] == (
        "$$.Execution.Id"
    )
    assert state["TimeoutSeconds"] == 300
    assert state["ResultSelector"] == {"Output.$": "$.Output"}
    assert [r["ErrorEquals"] for r in state["Retry"]] == [SFN_SERVICE_ERRORS]
    starts = [s for s in _role_statements(template) if s["Action"] == "states:StartExecution"]
    assert [s["Resource"] for s in starts] == [stack.resolve(child.state_machine_arn)]


def test_the_poll_budget_is_the_history_budget_over_a_polls_events() -> None:
    assert max_polls(5_000) == 5_000 // EVENTS_PER_POLL == 454
    assert max_polls(25_000) == 2_272
    for bad in (0, 25_001):
        with pytest.raises(ValueError, match="history_budget"):
            max_polls(bad)


def _poller_stack(budget: int) -> tuple[Stack, str]:
    stack = Stack(App(), "Poller", env={"account": "123456789012", "region": "us-east-1"})
    table = dynamodb.Table(
        stack,
        "Jobs",
        table_name="jobs",
        partition_key=dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING),
    )
    check = tasks.DynamoGetItem(
        stack,
        "AskJob",
        table=table,
        key={"pk": tasks.DynamoAttributeValue.from_string("job-1")},
        result_selector={"status.$": "$.Item.status.S"},
        result_path="$.job",
    )
    poller = StepKinds(stack, "Kinds", default_wait=WAIT, token_field="TaskToken").job_poller(
        "Poll",
        check=check,
        done=sfn.Condition.string_equals("$.job.status", "DONE"),
        failed=sfn.Condition.string_equals("$.job.status", "FAILED"),
        interval=Duration.seconds(0),
        history_budget=budget,
    )
    _machine(stack, poller)
    (machine,) = (
        Template.from_stack(stack).find_resources("AWS::StepFunctions::StateMachine").values()
    )
    refs = {"AWS::Partition": "aws", "AWS::Region": "us-east-1", "AWS::AccountId": "123456789012"}
    parts = machine["Properties"]["DefinitionString"]["Fn::Join"][1]
    # The one other reference is the table's name.
    asl = "".join(p if isinstance(p, str) else refs.get(p["Ref"], "jobs") for p in parts)
    return stack, asl


@pytest.mark.parametrize(
    ("status", "ending", "error"),
    [
        ("DONE", "SUCCEEDED", None),
        ("FAILED", "FAILED", "JobFailed"),
        ("RUNNING", "FAILED", "JobPollLimitExceeded"),
    ],
)
def test_the_job_poller_stops_when_the_job_ends_or_its_budget_is_spent(
    status: str, ending: str, error: str | None
) -> None:
    budget = 3 * EVENTS_PER_POLL  # three polls
    _, asl = _poller_stack(budget)
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        dynamo = boto3.client("dynamodb", region_name="us-east-1")
        dynamo.create_table(
            TableName="jobs",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        dynamo.put_item(TableName="jobs", Item={"pk": {"S": "job-1"}, "status": {"S": status}})
        sfn_client = boto3.client("stepfunctions", region_name="us-east-1")
        machine = sfn_client.create_state_machine(
            name="poller",
            definition=asl,
            roleArn="arn:aws:iam::123456789012:role/poller",
        )["stateMachineArn"]
        run = sfn_client.start_execution(stateMachineArn=machine, input="{}")["executionArn"]
        deadline = time.monotonic() + 20
        while (found := sfn_client.describe_execution(executionArn=run))["status"] == "RUNNING":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        history = sfn_client.get_execution_history(executionArn=run, maxResults=1000)["events"]

    assert found["status"] == ending
    assert found.get("error") == error
    polls = sum(e["type"] == "TaskSucceeded" for e in history)
    assert polls == (1 if status != "RUNNING" else 3)

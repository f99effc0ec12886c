"""The moto gaps ``local_cloud.runtime.moto_patches`` fills, each shown on moto's own objects."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.stepfunctions.parser.asl.eval.callback.callback import (
    CallbackEndpoint,
    CallbackOutcomeSuccess,
    CallbackPoolManager,
)
from moto.stepfunctions.parser.backend.execution import Execution

from local_cloud.runtime import moto_patches
from tests.local_cloud.machines import waiting_task


def test_an_answer_before_the_heartbeat_wait_is_set_up_still_resumes_the_task() -> None:
    """A fast worker answers while the task's PutEvents is still in flight."""
    moto_patches.apply()
    endpoint = CallbackEndpoint(callback_id="token-1")
    endpoint.notify(CallbackOutcomeSuccess(callback_id="token-1", output='{"ok": true}'))

    heartbeat = endpoint.setup_heartbeat_endpoint(heartbeat_seconds=30)

    assert heartbeat.clear_and_wait() is True  # at once, not after 30 s of heartbeat timeout
    outcome = endpoint.get_outcome()
    assert isinstance(outcome, CallbackOutcomeSuccess) and outcome.output == '{"ok": true}'


def test_an_answer_after_the_heartbeat_wait_is_set_up_resumes_it_as_before() -> None:
    moto_patches.apply()
    endpoint = CallbackEndpoint(callback_id="token-2")
    heartbeat = endpoint.setup_heartbeat_endpoint(heartbeat_seconds=30)
    answer = threading.Timer(
        0.05,
        endpoint.notify,
        [CallbackOutcomeSuccess(callback_id="token-2", output="{}")],
    )
    answer.start()

    assert heartbeat.clear_and_wait() is True
    assert endpoint.get_outcome() is not None


def test_each_attempt_of_a_waiting_task_has_its_own_token_and_a_closed_token_is_refused() -> None:
    """On AWS a retried task gets a new token, and an answer for an attempt that ended is refused
    with a named error (what both resumers drop); moto reused the token and accepted it."""
    moto_patches.apply()
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        sqs = boto3.client("sqs", region_name="us-east-1")
        events = boto3.client("events", region_name="us-east-1")
        sfn = boto3.client("stepfunctions", region_name="us-east-1")
        queue = sqs.create_queue(QueueName="requests")["QueueUrl"]
        events.put_rule(Name="requests", EventPattern=json.dumps({"source": ["test"]}))
        events.put_targets(
            Rule="requests",
            Targets=[{"Id": "q", "Arn": "arn:aws:sqs:us-east-1:123456789012:requests"}],
        )
        definition = waiting_task(
            HeartbeatSeconds=1,
            Retry=[{"ErrorEquals": ["States.Timeout"], "MaxAttempts": 1, "IntervalSeconds": 1}],
        )
        machine = sfn.create_state_machine(
            name="m",
            definition=json.dumps(definition),
            roleArn="arn:aws:iam::123456789012:role/r",
        )["stateMachineArn"]
        execution = sfn.start_execution(stateMachineArn=machine)["executionArn"]

        first, second = _tokens(sqs, queue, count=2, timeout=10)  # the retry after 1 s of silence

        assert first != second
        with pytest.raises(ClientError) as late:
            sfn.send_task_success(taskToken=first, output="{}")
        # AWS says TaskTimedOut; moto says TaskDoesNotExist (its check looks at the wrapping
        # exception, not the reason). Both resumers drop either: what matters is the refusal.
        assert late.value.response["Error"]["Code"] in ("TaskTimedOut", "TaskDoesNotExist")
        sfn.send_task_success(taskToken=second, output='{"ok": true}')
        deadline = time.monotonic() + 10
        while sfn.describe_execution(executionArn=execution)["status"] == "RUNNING":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert sfn.describe_execution(executionArn=execution)["status"] == "SUCCEEDED"
        with pytest.raises(ClientError) as duplicate:
            sfn.send_task_success(taskToken=second, output="{}")
        assert duplicate.value.response["Error"]["Code"] in ("TaskDoesNotExist", "InvalidToken")


def test_a_token_answered_the_moment_it_is_issued_resumes_its_task(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Answers ask the execution that issued the token, recorded as its attempt starts; a token
    answered before that (a client hooked on the engine's token registry, as the throughput
    bench's bare loop is) is still found, as moto finds it."""
    moto_patches.apply()
    answered: list[str] = []
    original_add = CallbackPoolManager.add

    def answer_at_once(self: CallbackPoolManager, callback_id: str) -> Any:
        endpoint = original_add(self, callback_id)
        boto3.client("stepfunctions", region_name="us-east-1").send_task_success(
            taskToken=callback_id, output='{"early": true}'
        )
        answered.append(callback_id)
        return endpoint

    monkeypatch.setattr(CallbackPoolManager, "add", answer_at_once)
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        boto3.client("events", region_name="us-east-1")
        sfn = boto3.client("stepfunctions", region_name="us-east-1")
        definition = waiting_task()
        machine = sfn.create_state_machine(
            name="early",
            definition=json.dumps(definition),
            roleArn="arn:aws:iam::123456789012:role/r",
        )["stateMachineArn"]
        execution = sfn.start_execution(stateMachineArn=machine)["executionArn"]
        deadline = time.monotonic() + 10
        while sfn.describe_execution(executionArn=execution)["status"] == "RUNNING":
            assert time.monotonic() < deadline
            time.sleep(0.05)

        described = sfn.describe_execution(executionArn=execution)
    assert len(answered) == 1
    assert (described["status"], json.loads(described["output"])) == ("SUCCEEDED", {"early": True})


def _tokens(sqs: Any, queue: str, *, count: int, timeout: float) -> list[str]:
    tokens: list[str] = []
    deadline = time.monotonic() + timeout
    while len(tokens) < count and time.monotonic() < deadline:
        for message in sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get(
            "Messages", []
        ):
            tokens.append(json.loads(message["Body"])["detail"]["token"])
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
        time.sleep(0.05)
    return tokens


def test_a_query_while_another_thread_adds_an_item_sees_a_consistent_table() -> None:
    from moto.dynamodb.models import dynamodb_backends

    moto_patches.apply()
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(
            TableName="orders",
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        for pk in ("A", "B"):
            client.put_item(TableName="orders", Item={"pk": {"S": pk}, "sk": {"S": "order"}})
        table = dynamodb_backends["123456789012"]["us-east-1"].tables["orders"]

        class StoredMeanwhile(dict):  # type: ignore[type-arg]
            """A partition whose reading lets another order be stored, as another thread would
            between two steps of moto's walk over the table."""

            def values(self) -> Any:
                table.items.setdefault("C", {})
                return super().values()

        table.items["A"] = StoredMeanwhile(table.items["A"])

        found = client.query(
            TableName="orders",
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": "B"}},
        )["Items"]

        assert [item["pk"]["S"] for item in found] == ["B"]


def test_a_query_while_another_thread_updates_an_item_it_returns_does_not_fail() -> None:
    from moto.dynamodb.models import dynamodb_backends
    from moto.dynamodb.models.dynamo_type import DynamoType

    moto_patches.apply()
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(
            TableName="orders",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        client.put_item(TableName="orders", Item={"pk": {"S": "A"}, "status": {"S": "PENDING"}})
        (item,) = dynamodb_backends["123456789012"]["us-east-1"].tables["orders"].items.values()

        class UpdatedMeanwhile(DynamoType):
            """An attribute whose sizing lets another attribute be added, as another thread's
            UpdateItem would while moto sizes the item for a query."""

            def size(self) -> int:
                item.attrs.setdefault("updated_at", DynamoType({"S": "now"}))
                return super().size()

        item.attrs["status"] = UpdatedMeanwhile({"S": "PENDING"})

        found = client.query(
            TableName="orders",
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": "A"}},
        )["Items"]

        assert [i["pk"]["S"] for i in found] == ["A"]


def _machine(sfn: Any, definition: dict[str, Any]) -> str:
    arn: str = sfn.create_state_machine(
        name=f"m{time.monotonic_ns()}",
        roleArn="arn:aws:iam::123456789012:role/machine",
        definition=json.dumps(definition),
    )["stateMachineArn"]
    return arn


def _ended(sfn: Any, execution: str) -> dict[str, Any]:
    deadline = time.monotonic() + 10
    while (found := sfn.describe_execution(executionArn=execution))["status"] == "RUNNING":
        assert time.monotonic() < deadline
        time.sleep(0.02)
    return dict(found)


def test_an_execution_listed_before_moto_starts_it_is_running() -> None:
    # moto lists an execution a moment before start() gives it a status; AWS never shows one
    # without a status (a ListExecutions at that moment failed the whole call).
    moto_patches.apply()
    being_created = object.__new__(Execution)
    being_created.exec_status = None
    assert being_created.status == "RUNNING"


def test_executions_started_without_a_name_are_two_executions() -> None:
    moto_patches.apply()
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        sfn = boto3.client("stepfunctions", region_name="us-east-1")
        machine = _machine(sfn, {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}})
        first = sfn.start_execution(stateMachineArn=machine, input="{}")["executionArn"]
        second = sfn.start_execution(stateMachineArn=machine, input="{}")["executionArn"]
    assert first != second  # moto named both "None" and gave the first one back


def test_a_child_state_machine_runs_to_its_end_with_awss_output() -> None:
    moto_patches.apply()
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        sfn = boto3.client("stepfunctions", region_name="us-east-1")
        child = _machine(
            sfn,
            {"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": {"ok": 1}, "End": True}}},
        )
        task = {
            "Type": "Task",
            "Resource": "arn:aws:states:::states:startExecution.sync:2",
            "Parameters": {"StateMachineArn": child, "Input": {"a": 1}},
            "End": True,
        }
        parent = _machine(sfn, {"StartAt": "Run", "States": {"Run": task}})
        runs = [sfn.start_execution(stateMachineArn=parent)["executionArn"] for _ in range(2)]
        ended = [_ended(sfn, run) for run in runs]
    for found in ended:
        assert found["status"] == "SUCCEEDED", found
        output = json.loads(found["output"])
        assert (output["Status"], output["Output"], output["Input"]) == (
            "SUCCEEDED",
            {"ok": 1},
            {"a": 1},
        )
        assert isinstance(output["StartDate"], int)  # epoch milliseconds, as AWS gives it


def test_an_activity_worker_takes_the_task_heartbeats_and_answers() -> None:
    moto_patches.apply()
    # As LocalCloud.start does: a local cloud stopped earlier in this process closed them.
    moto_patches.activities.open_long_polls()
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        sfn = boto3.client("stepfunctions", region_name="us-east-1")
        activity = sfn.create_activity(name=f"a{time.monotonic_ns()}")["activityArn"]
        task = {"Type": "Task", "Resource": activity, "HeartbeatSeconds": 5, "End": True}
        machine = _machine(sfn, {"StartAt": "Work", "States": {"Work": task}})
        run = sfn.start_execution(stateMachineArn=machine, input='{"x": 1}')["executionArn"]
        work = sfn.get_activity_task(activityArn=activity, workerName="back-office")
        sfn.send_task_heartbeat(taskToken=work["taskToken"])  # at once: AWS accepts it
        sfn.send_task_success(taskToken=work["taskToken"], output='{"done": true}')
        found = _ended(sfn, run)
        history = sfn.get_execution_history(executionArn=run)["events"]
        moto_patches.activities.close_long_polls()
        try:
            nothing = sfn.get_activity_task(activityArn=activity)
        finally:
            moto_patches.activities.open_long_polls()
    assert json.loads(work["input"]) == {"x": 1}
    assert (found["status"], json.loads(found["output"])) == ("SUCCEEDED", {"done": True})
    (started,) = [e for e in history if e["type"] == "ActivityStarted"]
    assert started["activityStartedEventDetails"]["workerName"] == "back-office"
    assert "taskToken" not in nothing  # a long poll that found nothing

"""Order starter: one execution per order reference, however often order.received arrives."""

from __future__ import annotations

import json
from types import ModuleType
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.handlers.conftest import BufferQueues, Context, LoadHandler

PASS_MACHINE = {"StartAt": "Wait", "States": {"Wait": {"Type": "Wait", "Seconds": 30, "End": True}}}


@pytest.fixture
def machine(aws: None) -> str:
    return boto3.client("stepfunctions").create_state_machine(  # type: ignore[no-any-return]
        name="orders",
        definition=json.dumps(PASS_MACHINE),
        roleArn="arn:aws:iam::123456789012:role/x",
    )["stateMachineArn"]


@pytest.fixture
def starter(load_handler: LoadHandler, machine: str, buffer_queues: BufferQueues) -> ModuleType:
    return load_handler(
        "order_starter.handler", {"STATE_MACHINE_ARN": machine, **buffer_queues.env}
    )


@pytest.fixture
def start(starter: ModuleType) -> Any:
    """What the handler does with each event of its batch."""
    return starter.start


def received(detail: dict[str, Any], event_id: str = "event-1") -> dict[str, Any]:
    return {
        "id": event_id,
        "time": "2026-11-23T10:00:00Z",
        "detail-type": "order.received",
        "detail": detail,
    }


def test_the_execution_is_named_after_the_order(start: Any, machine: str) -> None:
    result = start(received({"order_reference": "M101-S76-OP10-T65"}))

    assert result["started"] is True
    (execution,) = boto3.client("stepfunctions").list_executions(stateMachineArn=machine)[
        "executions"
    ]
    assert execution["name"] == "M101-S76-OP10-T65"
    described = boto3.client("stepfunctions").describe_execution(
        executionArn=execution["executionArn"]
    )
    assert json.loads(described["input"]) == {
        "order_reference": "M101-S76-OP10-T65",
        "received_at": "2026-11-23T10:00:00Z",
        "event_id": "event-1",
        "order": {"order_reference": "M101-S76-OP10-T65"},
    }


def test_a_second_order_received_for_the_same_order_starts_nothing(
    start: Any, machine: str
) -> None:
    start(received({"order_reference": "R-1"}))
    again = start(received({"order_reference": "R-1", "changed": True}, "event-2"))

    assert again == {"started": False, "execution_name": "R-1"}
    assert (
        len(boto3.client("stepfunctions").list_executions(stateMachineArn=machine)["executions"])
        == 1
    )


@pytest.mark.parametrize("detail", [{}, {"order_reference": ""}, {"order_reference": 42}])
def test_an_event_without_an_order_reference_is_refused(start: Any, detail: dict[str, Any]) -> None:
    module_error = pytest.raises(ValueError, match="order_reference must be a non-empty string")
    with module_error:
        start(received(detail))


@pytest.mark.parametrize(
    ("reference", "problem"),
    [(" WS-1", "leading or trailing whitespace"), ("WS 1", "not a valid order reference")],
)
def test_a_reference_that_is_not_canonical_is_refused_before_anything_starts(
    start: Any, machine: str, reference: str, problem: str
) -> None:
    with pytest.raises(ValueError, match=f"detail.order_reference .*{problem}"):
        start(received({"order_reference": reference}))

    executions = boto3.client("stepfunctions").list_executions(stateMachineArn=machine)
    assert executions["executions"] == []


def test_a_batch_starts_each_order_and_dead_letters_a_refused_one_with_the_reason(
    starter: ModuleType, machine: str, buffer_queues: BufferQueues, lambda_context: Context
) -> None:
    refused = received({"order_reference": ""}, "event-2")
    batch = buffer_queues.send(received({"order_reference": "B-1"}), refused, "not json")

    response = starter.handler(batch, lambda_context)

    assert response == {"batchItemFailures": []}  # the refused left the queue: nothing to retry
    executions = boto3.client("stepfunctions").list_executions(stateMachineArn=machine)
    assert [e["name"] for e in executions["executions"]] == ["B-1"]
    dead = buffer_queues.dead_letters()
    assert [event for event, _ in dead] == [refused, "not json"]
    assert "InvalidOrderEventError: event event-2: detail.order_reference" in dead[0][1]
    assert dead[1][1].startswith("UnreadableMessageError: the message body is not JSON")


def test_a_throttled_start_is_retried_later_and_not_dead_lettered(
    starter: ModuleType,
    machine: str,
    buffer_queues: BufferQueues,
    lambda_context: Context,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def throttled(**kwargs: Any) -> Any:
        raise ClientError(
            {"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}},
            "StartExecution",
        )

    monkeypatch.setattr(starter.sfn, "start_execution", throttled)
    batch = buffer_queues.send(received({"order_reference": "T-1"}))

    response = starter.handler(batch, lambda_context)

    assert response == {"batchItemFailures": [{"itemIdentifier": batch["Records"][0]["messageId"]}]}
    assert buffer_queues.dead_letters() == []
    assert buffer_queues.visible() == 0  # hidden for its backoff, then received again

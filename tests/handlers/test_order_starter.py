"""Order starter: one execution per order reference, however often order.received arrives."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from tests.handlers.conftest import Context, LoadHandler

PASS_MACHINE = {"StartAt": "Wait", "States": {"Wait": {"Type": "Wait", "Seconds": 30, "End": True}}}


@pytest.fixture
def machine(aws: None) -> str:
    return boto3.client("stepfunctions").create_state_machine(  # type: ignore[no-any-return]
        name="orders",
        definition=json.dumps(PASS_MACHINE),
        roleArn="arn:aws:iam::123456789012:role/x",
    )["stateMachineArn"]


@pytest.fixture
def handler(load_handler: LoadHandler, machine: str) -> Any:
    return load_handler("order_starter.handler", {"STATE_MACHINE_ARN": machine}).handler


def received(detail: dict[str, Any], event_id: str = "event-1") -> dict[str, Any]:
    return {
        "id": event_id,
        "time": "2026-11-23T10:00:00Z",
        "detail-type": "order.received",
        "detail": detail,
    }


def test_the_execution_is_named_after_the_order(
    handler: Any, machine: str, lambda_context: Context
) -> None:
    result = handler(received({"order_reference": "M101-S76-OP10-T65"}), lambda_context)

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
    handler: Any, machine: str, lambda_context: Context
) -> None:
    handler(received({"order_reference": "R-1"}), lambda_context)
    again = handler(
        received({"order_reference": "R-1", "changed": True}, "event-2"), lambda_context
    )

    assert again == {"started": False, "execution_name": "R-1"}
    assert (
        len(boto3.client("stepfunctions").list_executions(stateMachineArn=machine)["executions"])
        == 1
    )


@pytest.mark.parametrize("detail", [{}, {"order_reference": ""}, {"order_reference": 42}])
def test_an_event_without_an_order_reference_is_refused(
    handler: Any, lambda_context: Context, detail: dict[str, Any]
) -> None:
    module_error = pytest.raises(ValueError, match="order_reference must be a non-empty string")
    with module_error:
        handler(received(detail), lambda_context)


@pytest.mark.parametrize(
    ("reference", "problem"),
    [(" WS-1", "leading or trailing whitespace"), ("WS 1", "not a valid order reference")],
)
def test_a_reference_that_is_not_canonical_is_refused_before_anything_starts(
    handler: Any, machine: str, lambda_context: Context, reference: str, problem: str
) -> None:
    with pytest.raises(ValueError, match=f"detail.order_reference .*{problem}"):
        handler(received({"order_reference": reference}), lambda_context)

    executions = boto3.client("stepfunctions").list_executions(stateMachineArn=machine)
    assert executions["executions"] == []

"""Token Handler: vendor answers resume (or fail) the waiting task and record the item status."""

from __future__ import annotations

import json
from types import ModuleType
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from pydantic import ValidationError

from loyalty.adapters.orders_table import OrdersTable
from loyalty.order_status import ItemStatus
from tests.handlers.conftest import BufferQueues, Context, LoadHandler, WaitingTask
from tests.sample_events import load_event


@pytest.fixture
def token_handler(
    load_handler: LoadHandler, orders_table: str, buffer_queues: BufferQueues
) -> ModuleType:
    return load_handler(
        "token_handler.handler", {"ORDERS_TABLE_NAME": orders_table, **buffer_queues.env}
    )


@pytest.fixture
def resume(token_handler: ModuleType) -> Any:
    """What the handler does with each answer of its batch."""
    return token_handler.resume


@pytest.fixture
def stored_order(orders_table: str) -> OrdersTable:
    table = OrdersTable(client=boto3.client("dynamodb"), table_name=orders_table)
    table.create(
        order_reference="M101-S76-OP10-T65",
        execution_id="exec-1",
        attributes={},
        items={"voucher#1v8LlBkl": {"kind": "voucher", "status": "PENDING"}},
        now="2026-11-23T10:00:00.000+00:00",
    )
    return table


def answer(token: str, status: str = "submitted", **data: Any) -> dict[str, Any]:
    event = load_event("seed000_step3_voucher_submitted")
    event["detail"]["metadata"]["status"] = status
    event["detail"]["data"].update(loyalty_request_id=token, **data)
    return event


def test_submitted_resumes_the_task_with_the_event_as_output(
    resume: Any, waiting_task: WaitingTask, stored_order: OrdersTable
) -> None:
    event = answer(waiting_task.token, vendor_references=["red-1"])

    result = resume(event)

    execution = waiting_task.describe()
    assert result == {"resumed": True, "status": "submitted"}
    assert execution["status"] == "SUCCEEDED"
    assert json.loads(execution["output"]) == event
    item = stored_order.get("M101-S76-OP10-T65")
    assert item is not None
    assert item["items"]["voucher#1v8LlBkl"]["status"] == ItemStatus.SUBMITTED
    assert item["items"]["voucher#1v8LlBkl"]["vendor_references"] == ["red-1"]


def test_error_fails_the_task_with_the_named_error_and_reason(
    resume: Any, waiting_task: WaitingTask, stored_order: OrdersTable
) -> None:
    event = answer(
        waiting_task.token,
        "error",
        error={"name": "VendorRejected", "reason": "voucher_not_found: no such voucher"},
    )

    resume(event)

    execution = waiting_task.describe()
    assert execution["status"] == "FAILED"
    assert execution["error"] == "VendorRejected"
    assert execution["cause"] == "voucher_not_found: no such voucher"
    item = stored_order.get("M101-S76-OP10-T65")
    assert item is not None
    assert item["items"]["voucher#1v8LlBkl"]["status"] == ItemStatus.ERROR


def test_an_unknown_outcome_is_recorded_unknown_never_error(
    resume: Any, waiting_task: WaitingTask, stored_order: OrdersTable
) -> None:
    reason = "the vendor may have applied this request"
    event = answer(
        waiting_task.token, "error", error={"name": "VendorOutcomeUnknown", "reason": reason}
    )

    resume(event)

    assert waiting_task.describe()["error"] == "VendorOutcomeUnknown"
    item = stored_order.get("M101-S76-OP10-T65")
    assert item is not None
    recorded = item["items"]["voucher#1v8LlBkl"]
    assert (recorded["status"], recorded["reason"]) == (ItemStatus.UNKNOWN, reason)


def test_a_late_error_answer_never_undoes_an_applied_item(
    resume: Any, waiting_task: WaitingTask, stored_order: OrdersTable
) -> None:
    resume(answer("an-earlier-token", vendor_references=["red-1"]))
    late = answer(
        waiting_task.token, "error", error={"name": "VendorUnavailable", "reason": "down"}
    )

    resume(late)

    item = stored_order.get("M101-S76-OP10-T65")
    assert item is not None
    assert item["items"]["voucher#1v8LlBkl"]["status"] == ItemStatus.SUBMITTED


def test_an_answer_records_the_item_only_for_the_run_it_names(
    resume: Any, waiting_task: WaitingTask, stored_order: OrdersTable
) -> None:
    # The first run's item; an answer naming a re-run (attempt 2) is not about it.
    rerun = "arn:aws:states:us-east-1:123456789012:execution:orders:M101-S76-OP10-T65+2"
    other_run = answer("an-earlier-token", vendor_references=["red-1"])
    other_run["resources"] = [rerun]
    resume(other_run)
    item = stored_order.get("M101-S76-OP10-T65")
    assert item is not None
    assert item["items"]["voucher#1v8LlBkl"]["status"] == ItemStatus.PENDING

    # The same answer naming no run (seed 000's shape) is the first run's.
    resume(answer(waiting_task.token, vendor_references=["red-1"]))
    item = stored_order.get("M101-S76-OP10-T65")
    assert item is not None
    assert item["items"]["voucher#1v8LlBkl"]["status"] == ItemStatus.SUBMITTED


def test_an_error_without_a_reason_still_fails_with_a_named_error(
    resume: Any, waiting_task: WaitingTask
) -> None:
    resume(answer(waiting_task.token, "error"))

    assert waiting_task.describe()["error"] == "VendorError"


def test_a_late_or_duplicate_answer_is_logged_and_dropped(
    resume: Any, waiting_task: WaitingTask
) -> None:
    resume(answer(waiting_task.token))
    assert waiting_task.describe()["status"] == "SUCCEEDED"

    duplicate = resume(answer(waiting_task.token))
    unknown = resume(answer("no-such-token"))

    # moto says InvalidToken where AWS says TaskTimedOut; both are dropped, neither raises
    assert duplicate["resumed"] is False
    assert unknown == {"resumed": False, "reason": "InvalidToken"}


def test_an_answer_that_is_not_the_contract_raises_for_the_dlq(resume: Any) -> None:
    event = answer("token")
    del event["detail"]["data"]["loyalty_order_reference"]

    with pytest.raises(ValidationError, match="loyalty_order_reference"):
        resume(event)


def test_a_batch_dead_letters_an_answer_that_is_not_the_contract_with_the_reason(
    token_handler: ModuleType,
    waiting_task: WaitingTask,
    stored_order: OrdersTable,
    buffer_queues: BufferQueues,
    lambda_context: Context,
) -> None:
    broken = answer("token")
    del broken["detail"]["data"]["loyalty_order_reference"]
    batch = buffer_queues.send(answer(waiting_task.token, vendor_references=["red-1"]), broken)

    response = token_handler.handler(batch, lambda_context)

    assert response == {"batchItemFailures": []}
    assert waiting_task.describe()["status"] == "SUCCEEDED"
    ((event, reason),) = buffer_queues.dead_letters()
    assert event == broken
    assert reason.startswith("ValidationError: ") and "loyalty_order_reference" in reason


def test_a_throttled_resume_is_retried_later_and_the_task_still_waits(
    token_handler: ModuleType,
    waiting_task: WaitingTask,
    stored_order: OrdersTable,
    buffer_queues: BufferQueues,
    lambda_context: Context,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def throttled(**kwargs: Any) -> Any:
        raise ClientError(
            {"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}},
            "SendTaskSuccess",
        )

    monkeypatch.setattr(token_handler.tokens._client, "send_task_success", throttled)
    batch = buffer_queues.send(answer(waiting_task.token, vendor_references=["red-1"]))

    response = token_handler.handler(batch, lambda_context)

    assert response == {"batchItemFailures": [{"itemIdentifier": batch["Records"][0]["messageId"]}]}
    assert buffer_queues.dead_letters() == []
    assert waiting_task.describe(wait=0)["status"] == "RUNNING"

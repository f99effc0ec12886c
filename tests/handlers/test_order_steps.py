"""Order-step workers: each answers TASK_FINISHED or TASK_FAILED and keeps the order's status."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from loyalty.adapters.orders_table import ItemUpdate, OrdersTable
from loyalty.order_status import ItemStatus
from tests.handlers.conftest import BusTap, Context, LoadHandler

ENV = {
    "EVENT_BUS": "default",
    "EVENT_SOURCE": "service-loyalty-order-process",
    "LOYALTY_DOMAIN": "LEGO-LOYALTY",
}

ORDER = {
    "order_reference": "R-100",
    "loyalty_reference": "member-1",
    "merchant_reference": "merchant-1",
    "order_type": "sale",
    "currency": "GBP",
    "lines": [{"sku": "A", "quantity": 1, "unit_price": "10.00"}],
    "vouchers": [{"voucher_code": "V1"}],
}


def step_request(step: str, execution: str = "exec-1", **detail: Any) -> dict[str, Any]:
    return {
        "detail-type": step,
        "detail": {
            "TaskToken": f"token-{step}",
            "order_reference": "R-100",
            "execution_id": execution,
            "order": ORDER,
            **detail,
        },
    }


@pytest.fixture
def worker(load_handler: LoadHandler, orders_table: str) -> Any:
    def load(module: str) -> Any:
        return load_handler(
            f"order_steps.{module}", {**ENV, "ORDERS_TABLE_NAME": orders_table}
        ).handler

    return load


@pytest.fixture
def table(orders_table: str) -> OrdersTable:
    return OrdersTable(client=boto3.client("dynamodb"), table_name=orders_table)


def test_validation_failure_is_answered_task_failed_with_field_problems(
    worker: Any, bus_tap: BusTap, lambda_context: Context
) -> None:
    bad = {**ORDER, "lines": [{"sku": "A", "quantity": -1, "unit_price": "10.00"}]}

    worker("validate")(step_request("order.validate", order=bad), lambda_context)

    (answer,) = bus_tap.events()
    assert answer["detail-type"] == "TASK_FAILED"
    assert answer["detail"]["TaskToken"] == "token-order.validate"
    assert answer["detail"]["error"] == "OrderValidationError"
    assert "lines[0].quantity" in answer["detail"]["cause"]


def test_storage_makes_the_execution_the_owner_and_is_idempotent_for_it(
    worker: Any, table: OrdersTable, bus_tap: BusTap, lambda_context: Context
) -> None:
    store = worker("store")

    store(step_request("order.store"), lambda_context)
    store(step_request("order.store"), lambda_context)  # a retried step of the same execution

    answers = bus_tap.events(expect=2)
    assert [a["detail-type"] for a in answers] == ["TASK_FINISHED", "TASK_FINISHED"]
    item = table.get("R-100")
    assert item is not None
    assert (item["status"], item["stage"], item["execution_id"]) == (
        "PROCESSING",
        "STORED",
        "exec-1",
    )
    assert {key: (i["kind"], i["status"]) for key, i in item["items"].items()} == {
        "points": ("sale", "PENDING"),
        "voucher#V1": ("voucher", "PENDING"),
    }


def test_a_second_execution_for_the_same_order_fails_with_duplicate_order(
    worker: Any, table: OrdersTable, bus_tap: BusTap, lambda_context: Context
) -> None:
    store = worker("store")
    store(step_request("order.store"), lambda_context)

    store(step_request("order.store", execution="exec-2"), lambda_context)

    answers = bus_tap.events(expect=2)
    assert answers[1]["detail-type"] == "TASK_FAILED"
    assert answers[1]["detail"]["error"] == "DuplicateOrder"
    assert "exec-1" in answers[1]["detail"]["cause"]
    item = table.get("R-100")
    assert item is not None and item["execution_id"] == "exec-1"


LOYALTY = {
    "order_type": "sale",
    "loyalty_reference": "member-1",
    "points": 10,
    "vouchers": [{"voucher_code": "V1"}],
    "rewards": [],
}


def stored_with_items(
    worker: Any, table: OrdersTable, bus_tap: BusTap, lambda_context: Context, **statuses: str
) -> None:
    """The order stored, and its items answered with ``statuses`` (``points=``, ``V1=``)."""
    worker("store")(step_request("order.store"), lambda_context)
    bus_tap.events()
    for key, status in statuses.items():
        item_key = "points" if key == "points" else f"voucher#{key}"
        extra = {} if status != "ERROR" else {"error": "VendorRejected", "reason": "used"}
        table.mark_item(
            order_reference="R-100",
            item_key=item_key,
            status=ItemStatus(status),
            now="2026-11-30T10:00:00Z",
            attributes=extra,
        )


def test_completion_marks_completed_and_announces_it_with_the_answer(
    worker: Any, table: OrdersTable, bus_tap: BusTap, lambda_context: Context
) -> None:
    stored_with_items(worker, table, bus_tap, lambda_context, points="SUBMITTED", V1="SUBMITTED")
    loyalty = {
        "order_type": "sale",
        "loyalty_reference": "member-1",
        "points": 10,
        "vouchers": [],
        "rewards": [],
    }

    worker("complete")(step_request("order.complete", loyalty=loyalty), lambda_context)

    answers = bus_tap.events(expect=2)
    assert sorted(a["detail-type"] for a in answers) == ["TASK_FINISHED", "order.completed"]
    completed = next(a for a in answers if a["detail-type"] == "order.completed")
    assert completed["detail"]["order_reference"] == "R-100"
    assert completed["detail"]["points"] == 10
    item = table.get("R-100")
    assert item is not None and item["status"] == "COMPLETED"


def test_each_answer_emits_its_step_metrics_with_the_time_since_the_request(
    worker: Any, bus_tap: BusTap, lambda_context: Context, capsys: pytest.CaptureFixture[str]
) -> None:
    requested = (datetime.now(UTC) - timedelta(seconds=2)).isoformat()
    worker("recognise")(step_request("order.recognise", requested_at=requested), lambda_context)
    worker("validate")(
        step_request("order.validate"), lambda_context
    )  # no requested_at: no duration

    blobs = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert [blob["step"] for blob in blobs] == ["order.recognise", "order.validate"]
    assert blobs[0]["StepSucceeded"] == [1.0]
    assert 2000 <= blobs[0]["StepDuration"][0] < 60_000
    assert "StepDuration" not in blobs[1]
    (dimensions,) = blobs[0]["_aws"]["CloudWatchMetrics"][0]["Dimensions"]
    assert "step" in dimensions


def test_a_failure_is_recorded_even_for_an_order_that_was_never_stored(
    worker: Any, table: OrdersTable, bus_tap: BusTap, lambda_context: Context
) -> None:
    error = {"Error": "OrderValidationError", "Cause": "order is invalid: currency: missing"}

    worker("record_failure")(step_request("order.record-failure", error=error), lambda_context)

    answers = bus_tap.events(expect=2)
    failed = next(a for a in answers if a["detail-type"] == "order.failed")
    assert failed["detail"]["error"] == "OrderValidationError"
    assert failed["detail"]["cause"] == "order is invalid: currency: missing"
    item = table.get("R-100")
    assert item is not None
    assert (item["status"], item["error"]) == ("FAILED", "OrderValidationError")


def test_a_duplicate_execution_never_overwrites_the_owners_status(
    worker: Any, table: OrdersTable, bus_tap: BusTap, lambda_context: Context
) -> None:
    worker("store")(step_request("order.store"), lambda_context)
    error = {"Error": "DuplicateOrder", "Cause": "..."}

    worker("record_failure")(
        step_request("order.record-failure", execution="exec-2", error=error), lambda_context
    )

    answers = bus_tap.events(expect=3)
    assert "order.failed" not in [a["detail-type"] for a in answers]
    item = table.get("R-100")
    assert item is not None and item["status"] == "PROCESSING"


def test_completion_with_an_item_not_applied_fails_with_its_error_and_announces_nothing(
    worker: Any, table: OrdersTable, bus_tap: BusTap, lambda_context: Context
) -> None:
    stored_with_items(worker, table, bus_tap, lambda_context, points="SUBMITTED", V1="ERROR")

    worker("complete")(step_request("order.complete", loyalty=LOYALTY), lambda_context)

    (answer,) = bus_tap.events()
    assert answer["detail-type"] == "TASK_FAILED"
    assert answer["detail"]["error"] == "VendorRejected"
    assert answer["detail"]["cause"] == "voucher#V1 not applied: used"
    item = table.get("R-100")
    assert item is not None and item["status"] == "PROCESSING"


def test_completion_with_an_unanswered_item_records_it_unknown_never_not_applied(
    worker: Any, table: OrdersTable, bus_tap: BusTap, lambda_context: Context
) -> None:
    stored_with_items(worker, table, bus_tap, lambda_context, points="SUBMITTED")  # V1 PENDING

    worker("complete")(step_request("order.complete", loyalty=LOYALTY), lambda_context)

    (answer,) = bus_tap.events()
    assert (answer["detail-type"], answer["detail"]["error"]) == (
        "TASK_FAILED",
        "VendorOutcomeUnknown",
    )
    item = table.get("R-100")
    assert item is not None
    assert item["items"]["voucher#V1"]["status"] == "UNKNOWN"
    assert item["items"]["points"]["status"] == "SUBMITTED"


def test_an_unknown_outcome_parks_the_order_for_reconciliation(
    worker: Any, table: OrdersTable, bus_tap: BusTap, lambda_context: Context
) -> None:
    stored_with_items(worker, table, bus_tap, lambda_context, points="SUBMITTED", V1="UNKNOWN")
    error = {"Error": "VendorOutcomeUnknown", "Cause": "the vendor may or may not have applied"}

    worker("record_failure")(step_request("order.record-failure", error=error), lambda_context)

    answers = {a["detail-type"]: a for a in bus_tap.events(expect=2)}
    assert set(answers) == {"TASK_FINISHED", "order.needs-reconciliation"}
    parked = answers["order.needs-reconciliation"]["detail"]
    assert parked["items"]["voucher#V1"]["status"] == "UNKNOWN"
    assert parked["items"]["points"]["status"] == "SUBMITTED"
    assert answers["TASK_FINISHED"]["detail"]["result"] == {
        "recorded": True,
        "status": "NEEDS_RECONCILIATION",
        "error": "VendorOutcomeUnknown",
        "cause": "the vendor may or may not have applied",
    }
    item = table.get("R-100")
    assert item is not None and item["status"] == "NEEDS_RECONCILIATION"


def test_a_step_functions_error_is_recorded_under_a_name_a_fail_state_may_raise(
    worker: Any, table: OrdersTable, bus_tap: BusTap, lambda_context: Context
) -> None:
    error = {"Error": "States.Runtime", "Cause": "an invalid path"}

    worker("record_failure")(step_request("order.record-failure", error=error), lambda_context)

    answers = {a["detail-type"]: a for a in bus_tap.events(expect=2)}
    assert answers["TASK_FINISHED"]["detail"]["result"]["error"] == "StepFailed"
    assert answers["order.failed"]["detail"]["cause"] == "States.Runtime: an invalid path"


# -- late runs (Lambda's retries) never rewrite the past -------------------------------------


def test_a_late_completion_never_turns_a_failed_order_completed(
    worker: Any, table: OrdersTable, bus_tap: BusTap, lambda_context: Context
) -> None:
    stored_with_items(worker, table, bus_tap, lambda_context, points="SUBMITTED", V1="SUBMITTED")
    error = {"Error": "StepTimedOut", "Cause": "order.complete did not answer in 3 attempts"}
    worker("record_failure")(step_request("order.record-failure", error=error), lambda_context)
    bus_tap.events(expect=2)

    result = worker("complete")(step_request("order.complete", loyalty=LOYALTY), lambda_context)

    assert "stale step" in result["stale"]
    assert bus_tap.events(wait=0.3) == []  # no order.completed, no answer
    item = table.get("R-100")
    # Its applied effects are being reversed (loyalty:onPartialFailure = compensate).
    assert item is not None and (item["status"], item["error"]) == ("COMPENSATING", "StepTimedOut")


def test_a_late_storage_never_resets_an_order_that_moved_on(
    worker: Any, table: OrdersTable, bus_tap: BusTap, lambda_context: Context
) -> None:
    stored_with_items(worker, table, bus_tap, lambda_context, points="SUBMITTED")
    worker("proportion_discounts")(step_request("order.proportion-discounts"), lambda_context)
    bus_tap.events()

    result = worker("store")(step_request("order.store"), lambda_context)

    assert "stale step" in result["stale"]
    assert bus_tap.events(wait=0.3) == []
    item = table.get("R-100")
    assert item is not None
    assert item["stage"] == "DISCOUNTS_PROPORTIONED"
    assert item["items"]["points"]["status"] == "SUBMITTED"


def test_a_late_earlier_step_never_moves_the_stage_back(
    worker: Any, table: OrdersTable, bus_tap: BusTap, lambda_context: Context
) -> None:
    stored_with_items(worker, table, bus_tap, lambda_context)
    worker("transform")(step_request("order.transform"), lambda_context)
    bus_tap.events()

    result = worker("proportion_discounts")(
        step_request("order.proportion-discounts"), lambda_context
    )

    assert "is PROCESSING at stage TRANSFORMED" in result["stale"]
    item = table.get("R-100")
    assert item is not None and item["stage"] == "TRANSFORMED"


def test_a_retried_final_step_finishes_its_job_again(
    worker: Any, table: OrdersTable, bus_tap: BusTap, lambda_context: Context
) -> None:
    # The first run wrote FAILED and died before its event went out; the retry re-sends it.
    error = {"Error": "OrderValidationError", "Cause": "order is invalid"}
    record = worker("record_failure")
    record(step_request("order.record-failure", error=error), lambda_context)
    first = table.get("R-100")
    bus_tap.events(expect=2)

    record(step_request("order.record-failure", error=error), lambda_context)

    assert "order.failed" in [a["detail-type"] for a in bus_tap.events(expect=2)]
    again = table.get("R-100")
    assert first is not None and again is not None
    assert again["failed_at"] == first["failed_at"]
    assert again["status_since"] == first["status_since"] == first["failed_at"]  # same place


def test_the_order_record_alone_is_read_without_its_items(table: OrdersTable) -> None:
    table.create(
        order_reference="R-7",
        execution_id="exec-1",
        attributes={"order_type": "sale"},
        items={f"voucher#V{n}": {"status": "PENDING"} for n in range(30)},
        now="t0",
    )

    record = table.order_record("R-7")

    assert record is not None
    assert (record["status"], record["order_type"], record["record"]) == (
        "PROCESSING",
        "sale",
        "order",
    )
    assert table.order_record("R-NOBODY") is None


def test_a_status_change_is_dated_and_a_retried_end_keeps_the_date(table: OrdersTable) -> None:
    table.create(order_reference="R-8", execution_id="exec-1", attributes={}, items={}, now="t0")
    table.await_approval(order_reference="R-8", execution_id="exec-1", reasons=[], now="t1")
    assert table.approved(order_reference="R-8", execution_id="exec-1", now="t2")
    assert not table.approved(order_reference="R-8", execution_id="exec-1", now="t3")  # once
    table.complete(order_reference="R-8", execution_id="exec-1", now="t4")
    table.complete(order_reference="R-8", execution_id="exec-1", now="t9")  # a retried step

    order = table.get("R-8")
    assert order is not None
    assert (order["status"], order["status_since"], order["completed_at"]) == (
        "COMPLETED",
        "t4",
        "t4",
    )


def test_an_applied_item_stays_applied_whatever_a_later_answer_says(table: OrdersTable) -> None:
    table.create(
        order_reference="R-9",
        execution_id="exec-1",
        attributes={},
        items={"points": {"status": "PENDING"}},
        now="t0",
    )

    def mark(status: ItemStatus) -> ItemUpdate:
        return table.mark_item(order_reference="R-9", item_key="points", status=status, now="t")

    assert mark(ItemStatus.UNKNOWN) is ItemUpdate.RECORDED
    assert mark(ItemStatus.SUBMITTED) is ItemUpdate.RECORDED
    assert mark(ItemStatus.ERROR) is ItemUpdate.ALREADY_APPLIED
    assert mark(ItemStatus.UNKNOWN) is ItemUpdate.ALREADY_APPLIED
    item = table.get("R-9")
    assert item is not None and item["items"]["points"]["status"] == "SUBMITTED"
    assert (
        table.mark_item(
            order_reference="R-9", item_key="voucher#X", status=ItemStatus.ERROR, now="t"
        )
        is ItemUpdate.NO_SUCH_ITEM
    )


def test_a_failure_after_the_vendor_requests_went_out_records_unanswered_items_unknown(
    worker: Any, table: OrdersTable, bus_tap: BusTap, lambda_context: Context
) -> None:
    # The completion step never answered (StepTimedOut); the voucher's request got no answer.
    stored_with_items(worker, table, bus_tap, lambda_context, points="SUBMITTED")
    error = {"Error": "StepTimedOut", "Cause": "order.complete did not answer", "VendorPhase": True}

    worker("record_failure")(step_request("order.record-failure", error=error), lambda_context)

    answers = {a["detail-type"]: a for a in bus_tap.events(expect=2)}
    parked = answers["order.needs-reconciliation"]["detail"]
    assert parked["items"] == {
        "points": {"status": "SUBMITTED"},
        "voucher#V1": {"status": "UNKNOWN", "error": "VendorOutcomeUnknown"},
    }
    item = table.get("R-100")
    assert item is not None and item["status"] == "NEEDS_RECONCILIATION"


def test_a_failure_before_the_vendor_phase_leaves_never_requested_items_pending(
    worker: Any, table: OrdersTable, bus_tap: BusTap, lambda_context: Context
) -> None:
    stored_with_items(worker, table, bus_tap, lambda_context)
    error = {"Error": "StepTimedOut", "Cause": "order.transform did not answer in 3 attempts"}

    worker("record_failure")(step_request("order.record-failure", error=error), lambda_context)

    failed = next(a for a in bus_tap.events(expect=2) if a["detail-type"] == "order.failed")
    assert failed["detail"]["items"]["voucher#V1"] == {"status": "PENDING"}


def test_a_retried_failure_keeps_the_status_the_first_run_wrote(
    worker: Any, table: OrdersTable, bus_tap: BusTap, lambda_context: Context
) -> None:
    stored_with_items(worker, table, bus_tap, lambda_context, points="SUBMITTED", V1="ERROR")
    error = {"Error": "VendorRejected", "Cause": "used", "VendorPhase": True}
    record = worker("record_failure")
    record(step_request("order.record-failure", error=error), lambda_context)
    bus_tap.events(expect=2)
    # A late answer settles the voucher as unknown in between; the retry still ends the order.
    table.mark_item(
        order_reference="R-100", item_key="voucher#V1", status=ItemStatus.UNKNOWN, now="t"
    )

    result = record(step_request("order.record-failure", error=error), lambda_context)

    assert "stale" not in (result or {})
    answers = [a["detail-type"] for a in bus_tap.events(expect=2)]
    assert "TASK_FINISHED" in answers and "order.failed" in answers
    item = table.get("R-100")
    assert item is not None and item["status"] == "COMPENSATING"  # the points are reversed next


def test_an_order_whose_document_names_another_reference_is_refused(
    worker: Any, bus_tap: BusTap, lambda_context: Context
) -> None:
    other = {**ORDER, "order_reference": "R-OTHER"}

    worker("validate")(step_request("order.validate", order=other), lambda_context)

    (answer,) = bus_tap.events()
    assert (answer["detail-type"], answer["detail"]["error"]) == (
        "TASK_FAILED",
        "OrderValidationError",
    )
    assert "order_reference: 'R-OTHER' differs from the reference" in answer["detail"]["cause"]


def test_an_applied_item_loses_the_error_an_earlier_answer_left(table: OrdersTable) -> None:
    table.create(
        order_reference="R-8",
        execution_id="exec-1",
        attributes={},
        items={"points": {"status": "PENDING"}},
        now="t0",
    )
    table.mark_item(
        order_reference="R-8",
        item_key="points",
        status=ItemStatus.UNKNOWN,
        now="t1",
        attributes={"error": "VendorOutcomeUnknown", "reason": "lost"},
    )

    table.mark_item(
        order_reference="R-8",
        item_key="points",
        status=ItemStatus.SUBMITTED,
        now="t2",
        attributes={"vendor_references": ["txn-1"]},
    )

    item = table.get("R-8")
    assert item is not None
    assert {k: v for k, v in item["items"]["points"].items() if k != "updated_at"} == {
        "status": "SUBMITTED",
        "vendor_references": ["txn-1"],
    }

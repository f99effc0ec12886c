"""Compensation's steps on their own: the failure step plans the reversals, the Token Handler
records their answers, and the settling step decides how the compensation ended."""

from __future__ import annotations

import json
from typing import Any

import pytest

from loyalty.adapters.orders_table import ItemUpdate, OrdersTable
from loyalty.domain.compensation import compensation_outcome, plan_compensation
from loyalty.order_status import ItemStatus, OrderStage, OrderStatus
from tests.handlers.conftest import BusTap, Context
from tests.handlers.test_order_steps import step_request, stored_with_items, table, worker

__all__ = ["table", "worker"]  # fixtures, imported for pytest

VENDOR_REJECTED = {
    "Error": "VendorRejected",
    "Cause": "voucher#V1 not applied",
    "VendorPhase": True,
}


def test_a_failure_after_applied_effects_plans_their_reversals_and_is_compensating(
    worker: Any, table: OrdersTable, bus_tap: BusTap, lambda_context: Context
) -> None:
    stored_with_items(worker, table, bus_tap, lambda_context, points="SUBMITTED", V1="ERROR")
    table.record_stage(
        order_reference="R-100",
        execution_id="exec-1",
        stage=OrderStage.TRANSFORMED,
        now="t",
        attributes={"points": 10},
    )

    worker("record_failure")(
        step_request("order.record-failure", error=VENDOR_REJECTED), lambda_context
    )

    answer, failed = bus_tap.events(expect=2)
    assert failed["detail-type"] == "order.failed"  # announced now, before the reversals
    plan = answer["detail"]["result"]["compensation"]
    assert plan == {
        "points_type": "sale-reversal",
        "points": 10,
        "vouchers": [],  # V1 was never applied: nothing to give back
        "rewards": [],
        "loyalty_reference": "member-1",
        "merchant_reference": "merchant-1",
    }
    record = table.order_record("R-100") or {}
    assert (record["status"], record["error"]) == ("COMPENSATING", "VendorRejected")


def test_a_failure_with_nothing_applied_plans_nothing_and_is_failed(
    worker: Any, table: OrdersTable, bus_tap: BusTap, lambda_context: Context
) -> None:
    stored_with_items(worker, table, bus_tap, lambda_context, points="ERROR", V1="ERROR")

    worker("record_failure")(
        step_request("order.record-failure", error=VENDOR_REJECTED), lambda_context
    )

    answer, _ = bus_tap.events(expect=2)
    assert "compensation" not in answer["detail"]["result"]
    assert (table.order_record("R-100") or {})["status"] == "FAILED"


@pytest.mark.parametrize(
    ("reversed_points", "status", "event", "error"),
    [
        ("COMPENSATED", "FAILED", "order.compensated", "VendorRejected"),
        ("COMPENSATION_FAILED", "COMPENSATION_FAILED", "order.compensation-failed", None),
        ("SUBMITTED", "NEEDS_RECONCILIATION", "order.needs-reconciliation", None),
    ],
    ids=["reversed", "refused", "no-answer"],
)
def test_settling_a_compensation_ends_the_order_as_its_items_say(
    worker: Any,
    table: OrdersTable,
    bus_tap: BusTap,
    lambda_context: Context,
    capsys: pytest.CaptureFixture[str],
    reversed_points: str,
    status: str,
    event: str,
    error: str | None,
) -> None:
    stored_with_items(worker, table, bus_tap, lambda_context, points="SUBMITTED", V1="ERROR")
    worker("record_failure")(
        step_request("order.record-failure", error=VENDOR_REJECTED), lambda_context
    )
    bus_tap.events(expect=2)
    if reversed_points != "SUBMITTED":  # SUBMITTED: the reversal got no answer
        table.mark_item(
            order_reference="R-100",
            item_key="points",
            status=ItemStatus(reversed_points),
            now="t",
            attributes={"reason": "insufficient_points (HTTP 422)"},
            reversal=True,
        )
    capsys.readouterr()

    worker("settle_compensation")(
        step_request("order.settle-compensation", error=VENDOR_REJECTED), lambda_context
    )

    answer, announced = bus_tap.events(expect=2)
    assert announced["detail-type"] == event
    result = answer["detail"]["result"]
    assert result["status"] == status
    assert result["error"] == (error or result["error"])
    record = table.get("R-100") or {}
    assert record["status"] == status
    assert (record["order_error"], record["order_cause"]) == (
        "VendorRejected",
        "voucher#V1 not applied",
    )
    if reversed_points == "SUBMITTED":
        assert record["items"]["points"]["status"] == "UNKNOWN"
    blobs = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    counted = {
        m["Name"] for blob in blobs for d in blob["_aws"]["CloudWatchMetrics"] for m in d["Metrics"]
    }
    expected = {
        "FAILED": "OrderCompensated",
        "COMPENSATION_FAILED": "CompensationFailed",
        "NEEDS_RECONCILIATION": "OrderNeedsReconciliation",
    }[status]
    assert expected in counted
    # With the dimensions the CompensationFailed alarm watches.
    assert {blob["step"] for blob in blobs} == {"order.settle-compensation"}


@pytest.mark.parametrize(
    ("before", "reversal", "after", "update"),
    [
        ("SUBMITTED", ItemStatus.COMPENSATED, "COMPENSATED", ItemUpdate.RECORDED),
        ("SUBMITTED", ItemStatus.COMPENSATION_FAILED, "COMPENSATION_FAILED", ItemUpdate.RECORDED),
        ("COMPENSATION_FAILED", ItemStatus.COMPENSATED, "COMPENSATED", ItemUpdate.RECORDED),
        ("ERROR", ItemStatus.COMPENSATED, "ERROR", ItemUpdate.NOT_APPLICABLE),
        ("COMPENSATED", ItemStatus.COMPENSATION_FAILED, "COMPENSATED", ItemUpdate.NOT_APPLICABLE),
    ],
)
def test_a_reversals_answer_only_changes_an_item_that_is_applied_and_not_reversed(
    worker: Any,
    table: OrdersTable,
    bus_tap: BusTap,
    lambda_context: Context,
    before: str,
    reversal: ItemStatus,
    after: str,
    update: ItemUpdate,
) -> None:
    stored_with_items(worker, table, bus_tap, lambda_context, points=before)

    done = table.mark_item(
        order_reference="R-100", item_key="points", status=reversal, now="t", reversal=True
    )

    assert done is update
    assert (table.get("R-100") or {})["items"]["points"]["status"] == after


@pytest.mark.parametrize("late", [ItemStatus.SUBMITTED, ItemStatus.ERROR])
def test_a_late_forward_answer_never_changes_a_reversed_item(
    worker: Any, table: OrdersTable, bus_tap: BusTap, lambda_context: Context, late: ItemStatus
) -> None:
    stored_with_items(worker, table, bus_tap, lambda_context, points="COMPENSATED")

    done = table.mark_item(order_reference="R-100", item_key="points", status=late, now="t")

    assert done is ItemUpdate.NOT_APPLICABLE
    assert (table.get("R-100") or {})["items"]["points"]["status"] == "COMPENSATED"


def test_the_plan_and_the_outcome_are_decided_from_the_items_alone() -> None:
    items = {
        "points": {"status": "SUBMITTED"},
        "voucher#B": {"status": "COMPENSATION_FAILED"},
        "voucher#A": {"status": "ERROR"},
        "reward#R": {"status": "SUBMITTED"},
    }
    assert plan_compensation(order_type="return", points=7, items=items) == {
        "points_type": "return-reversal",
        "points": 7,
        "vouchers": [{"voucher_code": "B"}],
        "rewards": [{"reward_code": "R"}],
    }
    assert plan_compensation(order_type="sale", points=7, items={"p": {"status": "ERROR"}}) is None
    ended = compensation_outcome(
        {"points": {"status": "COMPENSATED"}, "voucher#B": {"status": "COMPENSATION_FAILED"}},
        error="VendorRejected",
        cause="x",
    )
    assert (ended.status, ended.error) == (OrderStatus.COMPENSATION_FAILED, "CompensationFailed")
    assert "voucher#B" in ended.cause and "retry" in ended.cause

"""Late and concurrent runs around a repair (re-run, compensation, cancellation): each was a way
to make an order's record lie, found by an adversarial review, now held by these tests."""

from __future__ import annotations

from typing import Any

import boto3

from loyalty.adapters.actions_table import ActionsTable
from loyalty.adapters.orders_table import OrdersTable
from loyalty.order_status import ItemStatus
from tests.handlers.conftest import BusTap, Context, LoadHandler
from tests.handlers.test_order_api import tables
from tests.handlers.test_order_steps import ENV, step_request, stored_with_items, table, worker

__all__ = ["table", "tables", "worker"]  # fixtures, imported for pytest

REFUSED = {"Error": "VendorRejected", "Cause": "voucher#V1 not applied", "VendorPhase": True}
TIMED_OUT = {"Error": "StepTimedOut", "Cause": "order.transform got no answer"}


def fail_and_compensate(
    worker: Any, table: OrdersTable, bus_tap: BusTap, context: Context, execution: str = "exec-1"
) -> None:
    """The run fails with REFUSED; its points are reversed; the compensation settles."""
    worker("record_failure")(
        step_request("order.record-failure", execution=execution, error=REFUSED), context
    )
    bus_tap.events(expect=2)
    table.mark_item(
        order_reference="R-100",
        item_key="points",
        status=ItemStatus.COMPENSATED,
        now="t",
        reversal=True,
    )
    worker("settle_compensation")(
        step_request("order.settle-compensation", execution=execution, error=REFUSED), context
    )
    bus_tap.events(expect=2)


def rerun(table: OrdersTable, worker: Any, bus_tap: BusTap, context: Context) -> None:
    """An operator's re-run (attempt 2, execution ``exec-1+2``) that stored the order again."""
    assert table.restart(
        order_reference="R-100",
        failed_execution="exec-1",
        execution_id="exec-1+2",
        attempt=2,
        retry={"attempt": 2},
        now="t",
    )
    worker("store")(step_request("order.store", execution="exec-1+2"), context)
    assert [e["detail-type"] for e in bus_tap.events()] == ["TASK_FINISHED"]


def applied_by_the_re_run(table: OrdersTable, *items: str) -> None:
    """The vendor's answers to the re-run (attempt 2): these items applied."""
    for key in items:
        table.mark_item(
            order_reference="R-100",
            item_key=key,
            status=ItemStatus.SUBMITTED,
            now="t",
            attributes={"vendor_references": ["x"]},
            attempt=2,
        )


def test_a_late_settling_of_the_failed_run_never_touches_the_re_runs_items(
    worker: Any, table: OrdersTable, bus_tap: BusTap, lambda_context: Context
) -> None:
    stored_with_items(worker, table, bus_tap, lambda_context, points="SUBMITTED", V1="ERROR")
    fail_and_compensate(worker, table, bus_tap, lambda_context)
    rerun(table, worker, bus_tap, lambda_context)
    applied_by_the_re_run(table, "points", "voucher#V1")

    # Lambda's late retry of the failed run's settling step, and of its failure step.
    worker("settle_compensation")(
        step_request("order.settle-compensation", execution="exec-1", error=REFUSED),
        lambda_context,
    )
    worker("record_failure")(
        step_request("order.record-failure", execution="exec-1", error=REFUSED), lambda_context
    )
    bus_tap.events(wait=0.3)

    items = (table.get("R-100") or {})["items"]
    assert {k: v["status"] for k, v in items.items()} == {
        "points": "SUBMITTED",
        "voucher#V1": "SUBMITTED",
    }
    worker("complete")(step_request("order.complete", execution="exec-1+2"), lambda_context)
    assert "order.completed" in [e["detail-type"] for e in bus_tap.events(expect=2)]


def test_a_re_run_starts_without_the_failed_runs_outcome(
    worker: Any, table: OrdersTable, bus_tap: BusTap, lambda_context: Context
) -> None:
    stored_with_items(worker, table, bus_tap, lambda_context, points="SUBMITTED", V1="ERROR")
    fail_and_compensate(worker, table, bus_tap, lambda_context)
    rerun(table, worker, bus_tap, lambda_context)
    applied_by_the_re_run(table, "points")

    # The re-run fails otherwise, and its reversal is refused.
    worker("record_failure")(
        step_request("order.record-failure", execution="exec-1+2", error=TIMED_OUT),
        lambda_context,
    )
    bus_tap.events(expect=2)
    table.mark_item(
        order_reference="R-100",
        item_key="points",
        status=ItemStatus.COMPENSATION_FAILED,
        now="t",
        reversal=True,
    )
    worker("settle_compensation")(
        step_request("order.settle-compensation", execution="exec-1+2", error=TIMED_OUT),
        lambda_context,
    )
    bus_tap.events(expect=2)

    record = table.order_record("R-100") or {}
    assert (record["status"], record["order_error"]) == ("COMPENSATION_FAILED", "StepTimedOut")


def test_a_cancelled_order_that_failed_ends_cancelled_and_a_retried_storage_keeps_the_cancel(
    worker: Any, table: OrdersTable, bus_tap: BusTap, lambda_context: Context
) -> None:
    worker("store")(step_request("order.store"), lambda_context)
    bus_tap.events()
    assert table.request_cancel(order_reference="R-100", cancel={"by": "cust", "at": "t"}, now="t")

    worker("store")(step_request("order.store"), lambda_context)  # the step, retried
    (answer,) = bus_tap.events()
    assert (answer["detail-type"], answer["detail"]["error"]) == ("TASK_FAILED", "OrderCancelled")
    assert "cancel_requested" in (table.order_record("R-100") or {})

    # It then fails for another reason before the cancellation was noticed: still CANCELLED.
    worker("record_failure")(step_request("order.record-failure", error=TIMED_OUT), lambda_context)
    answer, announced = bus_tap.events(expect=2)
    assert announced["detail-type"] == "order.cancelled"
    assert (table.order_record("R-100") or {})["status"] == "CANCELLED"


def test_an_approval_that_was_never_delivered_is_not_carried_over_to_a_re_run(
    load_handler: LoadHandler, tables: dict[str, str], bus_tap: BusTap
) -> None:
    orders = OrdersTable(client=boto3.client("dynamodb"), table_name=tables["orders"])
    actions = ActionsTable(client=boto3.client("dynamodb"), table_name=tables["actions"])
    orders.create(order_reference="A-1", execution_id="e1", attributes={}, items={}, now="t0")
    # The failed run opened the action; its function then failed (ApprovalNotOpened).
    assert actions.open(
        order_reference="A-1",
        action="approval",
        task_token="dead",
        execution_id="e1",
        reasons=["big"],
        requested_at="t",
        expires_at=2_000_000_000,
    )
    orders.fail(
        order_reference="A-1", execution_id="e1", error="ApprovalNotOpened", cause="x", now="t"
    )
    # A person approved, but the token was closed: 410, and the action EXPIRED.
    assert actions.claim(
        order_reference="A-1",
        action="approval",
        decision="approve",
        comment=None,
        decided_by="p",
        decided_at="t",
        now=1,
    )
    actions.expire(order_reference="A-1", action="approval")
    assert orders.restart(
        order_reference="A-1",
        failed_execution="e1",
        execution_id="e1+2",
        attempt=2,
        retry={},
        now="t",
    )
    step = load_handler(
        "order_steps.await_approval",
        {**ENV, "ORDERS_TABLE_NAME": tables["orders"], "ACTIONS_TABLE_NAME": tables["actions"]},
    )

    out = step.handler(
        {
            "TaskToken": "token-2",
            "order_reference": "A-1",
            "execution_id": "e1+2",
            "loyalty": {"approval_reasons": ["big"]},
        },
        Context(),
    )

    # A person is asked again: the action is the re-run's, pending, with its token.
    assert "carried_over" not in out
    action = actions.get("A-1", "approval") or {}
    assert (action["status"], action["execution_id"], action["task_token"]) == (
        "PENDING",
        "e1+2",
        "token-2",
    )
    assert [e["detail-type"] for e in bus_tap.events()] == ["order.approval-requested"]

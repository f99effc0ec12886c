"""The order record after every transition, whole: what an operator, the Order API and the staff
queue read (status and since when, stage, who owns it, what went wrong, when it ended). Each test
walks an order through the orders table (moto) and compares the entire record, so a value a
write forgets, or one it should have kept, shows."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import boto3
import pytest

from loyalty.adapters.orders_table import NotOwnerError, OrdersTable, StaleStepError
from loyalty.adapters.orders_table.access import deserializer
from loyalty.domain.errors import OrderCancelled
from loyalty.order_status import (
    ORDER_RECORD,
    PARTITION_KEY,
    SORT_KEY,
    ItemStatus,
    OrderStage,
    OrderStatus,
)
from tests.handlers.conftest import LoadHandler  # noqa: F401 - fixtures come from conftest

REF, EXEC, OTHER = "ORD-RECORD-1", "exec-1", "exec-2"
T = [f"2026-12-02T10:00:0{second}+00:00" for second in range(6)]


def record(table: str, reference: str = REF) -> dict[str, Any]:
    item = boto3.client("dynamodb").get_item(
        TableName=table,
        Key={PARTITION_KEY: {"S": reference}, SORT_KEY: {"S": ORDER_RECORD}},
        ConsistentRead=True,
    )["Item"]
    return {k: deserializer.deserialize(v) for k, v in item.items()}


def store(orders: OrdersTable, execution_id: str, now: str) -> None:
    orders.create(
        order_reference=REF,
        execution_id=execution_id,
        attributes={"order_type": "sale", "points": 10},
        items={"points": {"status": ItemStatus.PENDING.value}},
        now=now,
    )


def stored(orders_table: str) -> tuple[OrdersTable, dict[str, Any]]:
    orders = OrdersTable(client=boto3.client("dynamodb"), table_name=orders_table)
    store(orders, EXEC, T[0])
    return orders, {
        PARTITION_KEY: REF,
        SORT_KEY: ORDER_RECORD,
        "order_type": "sale",
        "points": Decimal(10),
        "execution_id": EXEC,
        "status": "PROCESSING",
        "status_since": T[0],
        "stage": "STORED",
        "created_at": T[0],
        "updated_at": T[0],
    }


def test_a_sale_stored_approved_and_completed(orders_table: str) -> None:
    orders, expected = stored(orders_table)
    assert record(orders_table) == expected
    assert orders.get(REF)["items"] == {  # type: ignore[index]
        "points": {"status": "PENDING", "updated_at": T[0]}
    }

    attempt = orders.record_stage(
        order_reference=REF,
        execution_id=EXEC,
        stage=OrderStage.TRANSFORMED,
        now=T[1],
        attributes={"net_amount": "12.00"},
    )
    expected |= {"stage": "TRANSFORMED", "updated_at": T[1], "net_amount": "12.00"}
    assert (attempt, record(orders_table)) == (1, expected)  # a first run is attempt 1

    orders.await_approval(order_reference=REF, execution_id=EXEC, reasons=["big"], now=T[2])
    expected |= {
        "status": "AWAITING_APPROVAL",
        "status_since": T[2],
        "stage": "AWAITING_APPROVAL",
        "approval_reasons": ["big"],
        "updated_at": T[2],
    }
    assert record(orders_table) == expected

    assert orders.approved(order_reference=REF, execution_id=EXEC, now=T[3]) is True
    expected |= {"status": "PROCESSING", "status_since": T[3], "updated_at": T[3]}
    assert record(orders_table) == expected

    orders.complete(order_reference=REF, execution_id=EXEC, now=T[4])
    expected |= {
        "status": "COMPLETED",
        "stage": "COMPLETED",
        "status_since": T[4],
        "completed_at": T[4],
        "updated_at": T[4],
    }
    assert record(orders_table) == expected

    # A retried last step: the same end, its times kept.
    orders.complete(order_reference=REF, execution_id=EXEC, now=T[5])
    assert record(orders_table) == expected | {"updated_at": T[5]}


def test_a_rejected_order_says_why_and_when(orders_table: str) -> None:
    orders, expected = stored(orders_table)
    orders.await_approval(order_reference=REF, execution_id=EXEC, reasons=["big"], now=T[1])
    orders.reject(order_reference=REF, execution_id=EXEC, reason="not this one", now=T[2])
    assert record(orders_table) == expected | {
        "status": "REJECTED",
        "stage": "REJECTED",
        "status_since": T[2],
        "approval_reasons": ["big"],
        "rejection_reason": "not this one",
        "rejected_at": T[2],
        "updated_at": T[2],
    }


def test_an_order_that_failed_before_it_was_stored_gets_a_whole_record(orders_table: str) -> None:
    orders = OrdersTable(client=boto3.client("dynamodb"), table_name=orders_table)
    assert orders.fail(
        order_reference=REF, execution_id=EXEC, error="OrderInvalid", cause="no lines", now=T[0]
    )
    assert record(orders_table) == {
        PARTITION_KEY: REF,
        SORT_KEY: ORDER_RECORD,
        "execution_id": EXEC,
        "status": "FAILED",
        "stage": "FAILED",
        "status_since": T[0],
        "error": "OrderInvalid",
        "cause": "no lines",
        "created_at": T[0],
        "failed_at": T[0],
        "updated_at": T[0],
    }


def test_a_cancelled_order_is_not_completed_and_ends_cancelled(orders_table: str) -> None:
    orders, expected = stored(orders_table)
    cancel = {"by": "staff-1", "at": T[1]}
    assert orders.request_cancel(order_reference=REF, cancel=cancel, now=T[1]) is not None
    expected |= {"cancel_requested": cancel, "updated_at": T[1]}

    with pytest.raises(OrderCancelled, match="cancelled by staff-1"):
        orders.complete(order_reference=REF, execution_id=EXEC, now=T[2])
    assert record(orders_table) == expected

    orders.fail(
        order_reference=REF,
        execution_id=EXEC,
        error="OrderCancelled",
        cause="cancelled by staff-1",
        now=T[3],
        status=OrderStatus.CANCELLED,
    )
    assert record(orders_table) == expected | {
        "status": "CANCELLED",
        "stage": "CANCELLED",
        "status_since": T[3],
        "error": "OrderCancelled",
        "cause": "cancelled by staff-1",
        "cancelled_at": T[3],
        "updated_at": T[3],
    }


def settle(orders: OrdersTable, execution_id: str, *, now: str) -> None:
    """A compensation that could not reverse everything ends (the order failed VendorRejected)."""
    orders.settle_compensation(
        order_reference=REF,
        execution_id=execution_id,
        status=OrderStatus.COMPENSATION_FAILED,
        error="VendorUnavailable",
        cause="a reversal could not be made",
        failure=("VendorRejected", "voucher unknown"),
        now=now,
    )


def test_a_compensation_ends_with_both_the_order_failure_and_its_own(orders_table: str) -> None:
    orders, expected = stored(orders_table)
    orders.fail(
        order_reference=REF,
        execution_id=EXEC,
        error="VendorRejected",
        cause="voucher unknown",
        now=T[1],
        status=OrderStatus.COMPENSATING,
    )
    settle(orders, EXEC, now=T[2])
    assert record(orders_table) == expected | {
        "status": "COMPENSATION_FAILED",
        "stage": "COMPENSATION_FAILED",
        "status_since": T[2],
        "error": "VendorUnavailable",
        "cause": "a reversal could not be made",
        "order_error": "VendorRejected",
        "order_cause": "voucher unknown",
        "failed_at": T[1],
        "compensation_ended_at": T[2],
        "updated_at": T[2],
    }


def test_only_the_owner_settles_a_compensation_and_only_while_compensating(
    orders_table: str,
) -> None:
    orders, expected = stored(orders_table)
    with pytest.raises(StaleStepError):
        settle(orders, EXEC, now=T[3])  # still PROCESSING: there is no compensation to end
    with pytest.raises(NotOwnerError):
        settle(orders, OTHER, now=T[3])
    assert record(orders_table) == expected


def test_a_retried_store_by_its_own_execution_stores_the_order_again(orders_table: str) -> None:
    orders, expected = stored(orders_table)
    store(orders, EXEC, T[1])
    assert record(orders_table) == expected | {
        "status_since": T[1],
        "created_at": T[1],
        "updated_at": T[1],
    }


RERUN = f"{EXEC}+2"


RETRY = {"by": "staff-1", "at": T[2]}


def rerun_stored(orders: OrdersTable, items: dict[str, dict[str, Any]] | None = None) -> None:
    """Failed, re-run by an operator, and stored again by the re-run (attempt 2) with ``items``
    asked for again."""
    orders.fail(order_reference=REF, execution_id=EXEC, error="E", cause="c", now=T[1])
    assert orders.restart(
        order_reference=REF,
        failed_execution=EXEC,
        execution_id=RERUN,
        attempt=2,
        retry=RETRY,
        now=T[2],
    )
    orders.resume(order_reference=REF, execution_id=RERUN, items=items or {}, now=T[3])


@pytest.mark.parametrize(
    ("before", "storing", "refused"),
    [
        (lambda orders: None, OTHER, NotOwnerError),
        (
            lambda orders: orders.record_stage(
                order_reference=REF, execution_id=EXEC, stage=OrderStage.TRANSFORMED, now=T[1]
            ),
            EXEC,
            StaleStepError,
        ),
        (
            lambda orders: orders.request_cancel(
                order_reference=REF, cancel={"by": "staff-1", "at": T[1]}, now=T[1]
            ),
            EXEC,
            OrderCancelled,
        ),
        (rerun_stored, RERUN, StaleStepError),
    ],
    ids=["another-execution", "past-storage", "cancelled", "a-re-run-stored-it"],
)
def test_a_store_that_is_not_the_orders_to_make_changes_nothing(
    orders_table: str, before: Any, storing: str, refused: type[Exception]
) -> None:
    orders, _ = stored(orders_table)
    before(orders)
    was = record(orders_table)
    with pytest.raises(refused):
        store(orders, storing, T[5])
    assert record(orders_table) == was


def test_a_cancellation_is_recorded_once_and_only_on_a_running_order(orders_table: str) -> None:
    orders, expected = stored(orders_table)
    first = {"by": "staff-1", "at": T[1]}
    assert orders.request_cancel(order_reference=REF, cancel=first, now=T[1]) == expected | {
        "cancel_requested": first,
        "updated_at": T[1],
    }
    again = {"by": "staff-2", "at": T[2]}
    assert orders.request_cancel(order_reference=REF, cancel=again, now=T[2]) is None
    assert record(orders_table)["cancel_requested"] == first

    ended = "ORD-RECORD-ENDED"
    orders.fail(order_reference=ended, execution_id=EXEC, error="E", cause="c", now=T[0])
    was = record(orders_table, ended)
    assert orders.request_cancel(order_reference=ended, cancel=again, now=T[3]) is None
    assert record(orders_table, ended) == was

    unknown = "ORD-RECORD-NOBODY"
    assert orders.request_cancel(order_reference=unknown, cancel=again, now=T[3]) is None
    assert orders.get(unknown) is None  # no record made up for it


def test_an_order_never_stored_is_not_completed_or_rejected_into_existence(
    orders_table: str,
) -> None:
    """Only a failure creates the record of an order that was never stored (it failed before
    storage); a completion or a rejection of it is a step out of place."""
    orders = OrdersTable(client=boto3.client("dynamodb"), table_name=orders_table)
    with pytest.raises(StaleStepError):
        orders.complete(order_reference=REF, execution_id=EXEC, now=T[0])
    with pytest.raises(StaleStepError):
        orders.reject(order_reference=REF, execution_id=EXEC, reason="no", now=T[0])
    assert orders.get(REF) is None


def test_a_late_step_is_told_which_step_was_ignored_and_why(orders_table: str) -> None:
    orders, _ = stored(orders_table)
    orders.complete(order_reference=REF, execution_id=EXEC, now=T[1])
    with pytest.raises(StaleStepError) as late:
        orders.record_stage(
            order_reference=REF, execution_id=EXEC, stage=OrderStage.TRANSFORMED, now=T[2]
        )
    assert str(late.value) == (
        f"order {REF} is COMPLETED at stage COMPLETED: TRANSFORMED ignored (stale step)"
    )


def test_a_re_run_stored_again_starts_its_items_afresh(orders_table: str) -> None:
    orders, expected = stored(orders_table)
    orders.mark_item(
        order_reference=REF,
        item_key="points",
        status=ItemStatus.ERROR,
        now=T[1],
        attributes={"error": "VendorUnavailable", "reason": "down"},
    )
    rerun_stored(orders, {"points": {"status": ItemStatus.PENDING.value}})
    del expected[SORT_KEY]  # get() gives the order record without it, and its items
    assert orders.get(REF) == expected | {
        "execution_id": RERUN,
        "attempt": 2,
        "retries": [RETRY],
        "status": "PROCESSING",
        "status_since": T[2],
        "stage": "STORED",
        "updated_at": T[3],
        "items": {"points": {"status": "PENDING", "attempt": 2, "updated_at": T[3]}},
    }

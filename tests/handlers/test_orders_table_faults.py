"""The orders table when DynamoDB itself fails, not a condition: the error reaches the caller
(the step fails, Lambda or the state machine retries it) and is never taken for "changed
nothing" or reported as done; a batch's unprocessed items are written again, then refused."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from loyalty.adapters.orders_table import NotOwnerError, OrdersTable
from loyalty.order_status import ItemStatus, OrderStage, OrderStatus
from tests.handlers.conftest import LoadHandler  # noqa: F401 - fixtures come from conftest

NOW = "2026-12-02T10:00:00+00:00"
REF, EXEC = "ORD-FAULT-1", "exec-1"
RERUN = f"{EXEC}+2"  # an operator's re-run: attempt 2
THROTTLED = "ProvisionedThroughputExceededException"


class FailingClient:
    """The real (moto) client, but the operations named fail as DynamoDB fails under load."""

    def __init__(self, *failing: str) -> None:
        self._client = boto3.client("dynamodb")
        self.failing = set(failing)

    def __getattr__(self, name: str) -> Any:
        if name not in self.failing:
            return getattr(self._client, name)

        def refuse(**_: Any) -> Any:
            error = {"Code": THROTTLED, "Message": "Throughput exceeds the current capacity"}
            raise ClientError({"Error": error}, name)

        return refuse


def stored(orders_table: str) -> tuple[OrdersTable, FailingClient]:
    client = FailingClient()
    table = OrdersTable(client=client, table_name=orders_table)
    table.create(
        order_reference=REF,
        execution_id=EXEC,
        attributes={"order_type": "sale", "points": 10},
        items={"points": {"status": ItemStatus.PENDING.value, "kind": "sale"}},
        now=NOW,
    )
    return table, client


WRITES: dict[str, Callable[[OrdersTable], Any]] = {
    "create": lambda t: t.create(
        order_reference="ORD-FAULT-2", execution_id=EXEC, attributes={}, items={}, now=NOW
    ),
    "record_stage": lambda t: t.record_stage(
        order_reference=REF, execution_id=EXEC, stage=OrderStage.TRANSFORMED, now=NOW
    ),
    "await_approval": lambda t: t.await_approval(
        order_reference=REF, execution_id=EXEC, reasons=["big"], now=NOW
    ),
    "approved": lambda t: t.approved(order_reference=REF, execution_id=EXEC, now=NOW),
    "reject": lambda t: t.reject(order_reference=REF, execution_id=EXEC, reason="no", now=NOW),
    "complete": lambda t: t.complete(order_reference=REF, execution_id=EXEC, now=NOW),
    "request_cancel": lambda t: t.request_cancel(
        order_reference=REF, cancel={"by": "someone", "at": NOW}, now=NOW
    ),
    "fail": lambda t: t.fail(
        order_reference=REF, execution_id=EXEC, error="VendorRejected", cause="no", now=NOW
    ),
    "settle_compensation": lambda t: t.settle_compensation(
        order_reference=REF,
        execution_id=EXEC,
        status=OrderStatus.FAILED,
        error="VendorRejected",
        cause="no",
        failure=("VendorRejected", "no"),
        now=NOW,
    ),
    "mark_item": lambda t: t.mark_item(
        order_reference=REF, item_key="points", status=ItemStatus.SUBMITTED, now=NOW
    ),
    "restart": lambda t: t.restart(
        order_reference=REF,
        failed_execution=EXEC,
        execution_id=RERUN,
        attempt=2,
        retry={"by": "operator"},
        now=NOW,
    ),
    "resume": lambda t: t.resume(order_reference=REF, execution_id=EXEC, items={}, now=NOW),
}


@pytest.mark.parametrize("write", list(WRITES))
def test_a_throttled_write_fails_loudly_and_changes_nothing(orders_table: str, write: str) -> None:
    table, client = stored(orders_table)
    before = table.get(REF)
    client.failing = {"put_item", "update_item", "batch_write_item", "transact_write_items"}

    with pytest.raises(ClientError) as raised:
        WRITES[write](table)

    assert raised.value.response["Error"]["Code"] == THROTTLED
    client.failing = set()
    assert table.get(REF) == before


class UnprocessingClient(FailingClient):
    """BatchWriteItem takes nothing the first ``refusals`` times (UnprocessedItems), as DynamoDB
    does when a partition is throttled."""

    def __init__(self, refusals: int) -> None:
        super().__init__()
        self.refusals = refusals
        self.batches = 0

    def batch_write_item(self, **kwargs: Any) -> Any:
        self.batches += 1
        if self.batches <= self.refusals:
            return {"UnprocessedItems": kwargs["RequestItems"]}
        return self._client.batch_write_item(**kwargs)


def items_of(count: int) -> dict[str, dict[str, Any]]:
    return {f"voucher#V-{i}": {"status": ItemStatus.PENDING.value} for i in range(count)}


def test_unprocessed_item_records_are_written_again(orders_table: str) -> None:
    client = UnprocessingClient(refusals=7)
    table = OrdersTable(client=client, table_name=orders_table)
    table.create(order_reference=REF, execution_id=EXEC, attributes={}, items=items_of(3), now=NOW)
    assert client.batches == 8
    assert set(table.get(REF)["items"]) == set(items_of(3))  # type: ignore[index]


def test_item_records_never_written_are_refused_not_taken_for_done(orders_table: str) -> None:
    client = UnprocessingClient(refusals=8)
    table = OrdersTable(client=client, table_name=orders_table)
    with pytest.raises(RuntimeError, match="3 item records not written"):
        table.create(
            order_reference=REF, execution_id=EXEC, attributes={}, items=items_of(3), now=NOW
        )
    assert client.batches == 8


def test_a_throttled_item_record_of_a_re_run_fails_the_step_which_can_run_again(
    orders_table: str,
) -> None:
    table, client = stored(orders_table)
    table.fail(order_reference=REF, execution_id=EXEC, error="E", cause="c", now=NOW)
    WRITES["restart"](table)
    again = {"points": {"status": ItemStatus.PENDING.value}}
    client.failing = {"put_item"}
    with pytest.raises(ClientError) as raised:
        table.resume(order_reference=REF, execution_id=RERUN, items=again, now=NOW)
    assert raised.value.response["Error"]["Code"] == THROTTLED

    client.failing = set()  # the step's retry
    table.resume(order_reference=REF, execution_id=RERUN, items=again, now=NOW)
    assert table.get(REF)["items"]["points"]["attempt"] == 2  # type: ignore[index]


def test_item_records_are_written_25_to_a_batch(orders_table: str) -> None:
    client = UnprocessingClient(refusals=0)
    table = OrdersTable(client=client, table_name=orders_table)
    table.create(order_reference=REF, execution_id=EXEC, attributes={}, items=items_of(51), now=NOW)
    assert client.batches == 3  # 25 + 25 + 1
    assert len(table.get(REF)["items"]) == 51  # type: ignore[index]


# -- ownership: the execution that stored the order owns it ---------------------------------

INTRUDER = "exec-intruder"
OWNED_WRITES: dict[str, Callable[[OrdersTable], Any]] = {
    "record_stage": lambda t: t.record_stage(
        order_reference=REF, execution_id=INTRUDER, stage=OrderStage.TRANSFORMED, now=NOW
    ),
    "await_approval": lambda t: t.await_approval(
        order_reference=REF, execution_id=INTRUDER, reasons=["big"], now=NOW
    ),
    "reject": lambda t: t.reject(order_reference=REF, execution_id=INTRUDER, reason="x", now=NOW),
    "complete": lambda t: t.complete(order_reference=REF, execution_id=INTRUDER, now=NOW),
    "create": lambda t: t.create(
        order_reference=REF, execution_id=INTRUDER, attributes={}, items={}, now=NOW
    ),
}


@pytest.mark.parametrize("write", list(OWNED_WRITES))
def test_another_execution_can_change_nothing_of_an_order_it_does_not_own(
    orders_table: str, write: str
) -> None:
    """A duplicate execution (a redelivered order.received after the name window, an operator's
    mistake) is refused before it can overwrite the owner's status or stage."""
    table, _ = stored(orders_table)
    before = table.get(REF)

    with pytest.raises(NotOwnerError, match="already being processed by execution exec-1"):
        OWNED_WRITES[write](table)

    assert table.get(REF) == before


def test_another_executions_failure_and_approval_change_nothing_and_say_so(
    orders_table: str,
) -> None:
    table, _ = stored(orders_table)
    table.await_approval(order_reference=REF, execution_id=EXEC, reasons=["big"], now=NOW)
    before = table.get(REF)

    failed = table.fail(
        order_reference=REF, execution_id=INTRUDER, error="VendorRejected", cause="x", now=NOW
    )
    approved = table.approved(order_reference=REF, execution_id=INTRUDER, now=NOW)

    assert (failed, approved) == (False, False)
    assert table.get(REF) == before
    assert table.approved(order_reference=REF, execution_id=EXEC, now=NOW) is True

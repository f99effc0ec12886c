"""An operator's re-run of a failed order: a new execution takes the order over (``restart``),
stores it again (``resume``) and asks again only for what the vendor has not applied."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from loyalty.adapters.dynamodb import is_condition_failure
from loyalty.adapters.orders_table.access import to_attr
from loyalty.adapters.orders_table.reads import OrderReads
from loyalty.adapters.orders_table.record import OrderRecordWrites
from loyalty.naming import attempt_of
from loyalty.order_status import (
    ITEM_ATTEMPT,
    ITEM_RECORD_PREFIX,
    PARTITION_KEY,
    REVERSIBLE_ITEM_STATUSES,
    STATUS_SINCE,
    ItemStatus,
    OrderStage,
    OrderStatus,
)


class OrderReruns(OrderReads, OrderRecordWrites):
    """Hand a failed order to a new execution and store it again."""

    def restart(
        self,
        *,
        order_reference: str,
        failed_execution: str,
        execution_id: str,
        attempt: int,
        retry: dict[str, Any],
        now: str,
    ) -> bool:
        """An operator re-runs a FAILED (or COMPENSATION_FAILED) order: ``execution_id``
        (attempt ``attempt``) owns it from now, the failure moves to ``retries`` (with who asked,
        when and why) and the order is PROCESSING again. False, changing nothing, unless the
        order is still failed under ``failed_execution`` (a concurrent retry or cancellation
        won)."""
        names = {
            "#pk": PARTITION_KEY,
            "#status": "status",
            "#stage": "stage",
            "#since": STATUS_SINCE,
            "#retries": "retries",
            "#error": "error",
            "#cause": "cause",
            "#failed_at": "failed_at",
        }
        try:
            self._client.update_item(
                TableName=self._table,
                Key=self._key(order_reference),
                UpdateExpression=(
                    "SET #status = :processing, #stage = :restarted, #since = :now, "
                    "updated_at = :now, execution_id = :exec, attempt = :attempt, "
                    "#retries = list_append(if_not_exists(#retries, :none), :retry) "
                    # What the failed run ended with is in ``retries`` now; none of it is the
                    # new run's (a compensation's outcome, a cancellation it had).
                    "REMOVE #error, #cause, #failed_at, order_error, order_cause, "
                    "compensation_ended_at, cancel_requested"
                ),
                ConditionExpression=(
                    "attribute_exists(#pk) AND #status IN (:failed, :not_compensated, "
                    ":compensating) AND execution_id = :from"
                ),
                ExpressionAttributeNames=names,
                ExpressionAttributeValues={
                    k: to_attr(v)
                    for k, v in {
                        ":processing": OrderStatus.PROCESSING.value,
                        ":restarted": OrderStage.RESTARTED.value,
                        ":failed": OrderStatus.FAILED.value,
                        ":not_compensated": OrderStatus.COMPENSATION_FAILED.value,
                        ":compensating": OrderStatus.COMPENSATING.value,
                        ":now": now,
                        ":exec": execution_id,
                        ":from": failed_execution,
                        ":attempt": attempt,
                        ":none": [],
                        ":retry": [retry],
                    }.items()
                },
            )
        except ClientError as err:
            if is_condition_failure(err):
                return False
            raise
        return True

    def resume(
        self,
        *,
        order_reference: str,
        execution_id: str,
        items: dict[str, dict[str, Any]],
        now: str,
    ) -> None:
        """The storage step of a re-run: the order is STORED again under ``execution_id`` and
        every item the vendor has not applied (or whose effect was reversed) is PENDING again;
        an applied item (``SUBMITTED``, or ``COMPENSATION_FAILED``: its reversal was not made) is
        never asked for again. Raises NotOwnerError if another execution owns the order, and
        StaleStepError unless this execution re-runs it and has not gone past storing it (a
        retried step does the same again)."""
        self._update_owned(
            order_reference,
            execution_id,
            {"stage": OrderStage.STORED.value, "updated_at": now},
            stages=(OrderStage.RESTARTED, OrderStage.STORED),
        )
        attempt = attempt_of(execution_id)
        for key, value in items.items():
            # The run that asks for the item again: only its answers record it from now on.
            record = {**value, ITEM_ATTEMPT: attempt, "updated_at": now}
            try:
                self._client.put_item(
                    TableName=self._table,
                    Item={
                        **self._key(order_reference, ITEM_RECORD_PREFIX + key),
                        **{k: to_attr(v) for k, v in record.items()},
                    },
                    ConditionExpression=(
                        "attribute_not_exists(#status) OR NOT #status IN (:applied, :kept)"
                    ),
                    ExpressionAttributeNames={"#status": "status"},
                    ExpressionAttributeValues={
                        ":applied": to_attr(ItemStatus.SUBMITTED.value),
                        ":kept": to_attr(ItemStatus.COMPENSATION_FAILED.value),
                    },
                )
            except ClientError as err:
                if not is_condition_failure(err):
                    raise

    def applied_items(self, order_reference: str) -> set[str]:
        """The items the vendor applied and that were not reversed, by key: what a re-run must
        not ask for again."""
        return {
            key
            for key, item in (self.get(order_reference) or {}).get("items", {}).items()
            if item.get("status") in REVERSIBLE_ITEM_STATUSES
        }

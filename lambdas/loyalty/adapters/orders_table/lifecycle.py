"""An order's way through its statuses under the execution that owns it: stored, each stage it
reaches, approval, cancellation, and its final status (a compensation's end too)."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from loyalty.adapters.dynamodb import is_condition_failure
from loyalty.adapters.orders_table.access import deserializer, to_attr
from loyalty.adapters.orders_table.record import OrderRecordWrites, running_values
from loyalty.adapters.orders_table.refusals import NotOwnerError, refusal
from loyalty.order_status import (
    ITEM_RECORD_PREFIX,
    ORDER_RECORD,
    PARTITION_KEY,
    SORT_KEY,
    STATUS_SINCE,
    OrderStage,
    OrderStatus,
    stages_up_to,
)

BATCH_WRITE_LIMIT = 25


class OrderLifecycle(OrderRecordWrites):
    """Store an order, record its stages and end it."""

    def create(
        self,
        *,
        order_reference: str,
        execution_id: str,
        attributes: dict[str, Any],
        items: dict[str, dict[str, Any]],
        now: str,
    ) -> None:
        """Store a new order and its PENDING items. Idempotent for its own execution while the
        order is still at ``STORED`` (a retried storage step rewrites the same records); raises
        NotOwnerError if another execution stored it first, StaleStepError if the order already
        went further (a late retry must not reset its status and items)."""
        record = {
            **attributes,
            PARTITION_KEY: order_reference,
            SORT_KEY: ORDER_RECORD,
            "execution_id": execution_id,
            "status": OrderStatus.PROCESSING.value,
            STATUS_SINCE: now,
            "stage": OrderStage.STORED.value,
            "created_at": now,
            "updated_at": now,
        }
        try:
            self._client.put_item(
                TableName=self._table,
                Item={k: to_attr(v) for k, v in record.items()},
                # A re-run's record (it has an ``attempt``) is never overwritten: ``resume``.
                # Nor one that somebody cancelled meanwhile (OrderCancelled).
                ConditionExpression=(
                    "attribute_not_exists(#pk) OR (execution_id = :exec AND #stage = :stored "
                    "AND #status = :processing AND attribute_not_exists(attempt) "
                    "AND attribute_not_exists(cancel_requested))"
                ),
                ExpressionAttributeNames={
                    "#pk": PARTITION_KEY,
                    "#stage": "stage",
                    "#status": "status",
                },
                ExpressionAttributeValues={
                    ":exec": to_attr(execution_id),
                    ":stored": to_attr(OrderStage.STORED.value),
                    ":processing": to_attr(OrderStatus.PROCESSING.value),
                },
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as err:
            if is_condition_failure(err):
                raise refusal(err, order_reference, execution_id, "store") from err
            raise
        # The order record is this execution's: its item records can be written unconditionally.
        puts = [
            {
                "PutRequest": {
                    "Item": {
                        **self._key(order_reference, ITEM_RECORD_PREFIX + key),
                        **{k: to_attr(v) for k, v in {**value, "updated_at": now}.items()},
                    }
                }
            }
            for key, value in items.items()
        ]
        for start in range(0, len(puts), BATCH_WRITE_LIMIT):
            self._batch_write(puts[start : start + BATCH_WRITE_LIMIT])

    def _batch_write(self, requests: list[dict[str, Any]]) -> None:
        pending = {self._table: requests}
        for _ in range(8):
            unprocessed = self._client.batch_write_item(RequestItems=pending).get(
                "UnprocessedItems", {}
            )
            if not unprocessed:
                return
            pending = unprocessed
        raise RuntimeError(f"{len(pending[self._table])} item records not written (throttled)")

    def record_stage(
        self,
        *,
        order_reference: str,
        execution_id: str,
        stage: OrderStage,
        now: str,
        attributes: dict[str, Any] | None = None,
    ) -> int:
        """Record that the owning execution reached ``stage`` (with what it computed there),
        unless the order is already past it or ended (StaleStepError). Returns the order's
        attempt (1, or more for an operator's re-run)."""
        record = self._update_owned(
            order_reference,
            execution_id,
            {"stage": stage.value, "updated_at": now, **(attributes or {})},
            stages=stages_up_to(stage),
        )
        return int(record.get("attempt", 1))

    def await_approval(
        self, *, order_reference: str, execution_id: str, reasons: list[str], now: str
    ) -> None:
        self._update_owned(
            order_reference,
            execution_id,
            {
                "status": OrderStatus.AWAITING_APPROVAL.value,
                STATUS_SINCE: now,
                "stage": OrderStage.AWAITING_APPROVAL.value,
                "approval_reasons": reasons,
                "updated_at": now,
            },
            stages=stages_up_to(OrderStage.AWAITING_APPROVAL),
        )

    def approved(self, *, order_reference: str, execution_id: str, now: str) -> bool:
        """A person approved the order: it is PROCESSING again (out of the staff's queue).
        Returns False, changing nothing, unless the order still awaits approval under
        ``execution_id`` (it may already have moved on)."""
        try:
            self._update(
                order_reference,
                {"status": OrderStatus.PROCESSING.value, STATUS_SINCE: now, "updated_at": now},
                condition=(
                    "attribute_exists(#pk) AND execution_id = :exec AND #c_status = :awaiting"
                ),
                condition_values={
                    ":exec": execution_id,
                    ":awaiting": OrderStatus.AWAITING_APPROVAL.value,
                },
                condition_names={"#c_status": "status"},
            )
        except ClientError as err:
            if is_condition_failure(err):
                return False
            raise
        return True

    def reject(self, *, order_reference: str, execution_id: str, reason: str, now: str) -> None:
        self._end(
            order_reference,
            execution_id,
            OrderStatus.REJECTED,
            {"rejection_reason": reason, "updated_at": now},
            ended_at=("rejected_at", now),
        )

    def complete(self, *, order_reference: str, execution_id: str, now: str) -> None:
        """COMPLETED, unless somebody cancelled the order meanwhile (OrderCancelled: its effects
        are reversed instead)."""
        self._end(
            order_reference,
            execution_id,
            OrderStatus.COMPLETED,
            {"updated_at": now},
            ended_at=("completed_at", now),
            unless_cancelled=True,
        )

    def request_cancel(
        self, *, order_reference: str, cancel: dict[str, Any], now: str
    ) -> dict[str, Any] | None:
        """Record a cancellation (who, when, why) on a running order: its next step stops it.
        Returns the order record, or None, changing nothing, if the order is not running (any
        more) or was cancelled already."""
        try:
            answer = self._client.update_item(
                TableName=self._table,
                Key=self._key(order_reference),
                UpdateExpression="SET cancel_requested = :cancel, updated_at = :now",
                ConditionExpression=(
                    "attribute_exists(#pk) AND #status IN (:run0, :run1) "
                    "AND attribute_not_exists(cancel_requested)"
                ),
                ExpressionAttributeNames={"#pk": PARTITION_KEY, "#status": "status"},
                ExpressionAttributeValues={
                    k: to_attr(v)
                    for k, v in {":cancel": cancel, ":now": now, **running_values()}.items()
                },
                ReturnValues="ALL_NEW",
            )
        except ClientError as err:
            if is_condition_failure(err):
                return None
            raise
        return {k: deserializer.deserialize(v) for k, v in answer["Attributes"].items()}

    def fail(
        self,
        *,
        order_reference: str,
        execution_id: str,
        error: str,
        cause: str,
        now: str,
        status: OrderStatus = OrderStatus.FAILED,
    ) -> bool:
        """End the order with ``status`` (FAILED, or NEEDS_RECONCILIATION when a vendor effect's
        outcome is unknown) and the error, creating the record if the order never got stored (it
        failed recognition or validation). Returns False, changing nothing, if another execution
        owns the order; raises StaleStepError if the order already ended otherwise."""
        try:
            self._end(
                order_reference,
                execution_id,
                status,
                {"error": error, "cause": cause, "updated_at": now, "execution_id": execution_id},
                ended_at=(
                    "cancelled_at" if status is OrderStatus.CANCELLED else "failed_at",
                    now,
                ),
                may_create=True,
            )
        except NotOwnerError:
            return False
        return True

    def settle_compensation(
        self,
        *,
        order_reference: str,
        execution_id: str,
        status: OrderStatus,
        error: str,
        cause: str,
        failure: tuple[str, str],
        now: str,
    ) -> None:
        """End a compensation: FAILED (every reversal made), COMPENSATION_FAILED or
        NEEDS_RECONCILIATION, if this execution owns the order and it is COMPENSATING (or
        already has ``status``: a retried step). ``failure``: the error and cause the order
        itself failed with, kept as ``order_error``/``order_cause`` (an operator's retry of the
        compensation ends with them). Raises NotOwnerError or StaleStepError."""
        try:
            self._update(
                order_reference,
                {
                    "status": status.value,
                    "stage": status.value,
                    STATUS_SINCE: now,
                    "error": error,
                    "cause": cause,
                    "order_error": failure[0],
                    "order_cause": failure[1],
                    "compensation_ended_at": now,
                    "updated_at": now,
                },
                condition=(
                    "attribute_exists(#pk) AND execution_id = :exec "
                    "AND #c_status IN (:compensating, :final)"
                ),
                condition_values={
                    ":exec": execution_id,
                    ":compensating": OrderStatus.COMPENSATING.value,
                    ":final": status.value,
                },
                condition_names={"#c_status": "status"},
            )
        except ClientError as err:
            if is_condition_failure(err):
                raise refusal(err, order_reference, execution_id, status.value) from err
            raise

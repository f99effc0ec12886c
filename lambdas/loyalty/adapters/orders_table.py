"""The orders table: one item per order, keyed by its reference, owned by one execution.

Every write after the first is conditional on ``execution_id``: the execution that stored the
order owns it, so a duplicate execution (a redelivered ``order.received`` after the 90-day name
window, or an operator's mistake) can never overwrite the status of the real one. Per-item
statuses (points, each voucher, each reward) live in the ``items`` map, updated by the Token
Handler as the vendor answers.
"""

from __future__ import annotations

from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from loyalty.order_status import PARTITION_KEY, ItemStatus, OrderStage, OrderStatus


class NotOwnerError(Exception):
    """The order exists and belongs to another execution."""

    def __init__(self, order_reference: str, owner: str | None) -> None:
        super().__init__(
            f"order {order_reference} is already being processed by execution {owner or 'unknown'}"
        )
        self.owner = owner


_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def _to_attr(value: Any) -> dict[str, Any]:
    return _serializer.serialize(value)


class OrdersTable:
    def __init__(self, *, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def create(
        self,
        *,
        order_reference: str,
        execution_id: str,
        attributes: dict[str, Any],
        items: dict[str, dict[str, Any]],
        now: str,
    ) -> None:
        """Store a new order. Idempotent for its own execution (a retried storage step rewrites
        the same item); raises NotOwnerError if another execution stored it first."""
        item = {
            **attributes,
            PARTITION_KEY: order_reference,
            "execution_id": execution_id,
            "status": OrderStatus.PROCESSING.value,
            "stage": OrderStage.STORED.value,
            "items": items,
            "created_at": now,
            "updated_at": now,
        }
        try:
            self._client.put_item(
                TableName=self._table,
                Item={k: _to_attr(v) for k, v in item.items()},
                ConditionExpression="attribute_not_exists(#pk) OR execution_id = :exec",
                ExpressionAttributeNames={"#pk": PARTITION_KEY},
                ExpressionAttributeValues={":exec": _to_attr(execution_id)},
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as err:
            if _is_condition_failure(err):
                raise NotOwnerError(order_reference, _owner_in(err)) from err
            raise

    def record_stage(
        self,
        *,
        order_reference: str,
        execution_id: str,
        stage: OrderStage,
        now: str,
        attributes: dict[str, Any] | None = None,
    ) -> None:
        """Record that the owning execution reached ``stage`` (with what it computed there)."""
        self._update_owned(
            order_reference,
            execution_id,
            {"stage": stage.value, "updated_at": now, **(attributes or {})},
        )

    def await_approval(
        self, *, order_reference: str, execution_id: str, reasons: list[str], now: str
    ) -> None:
        self._update_owned(
            order_reference,
            execution_id,
            {
                "status": OrderStatus.AWAITING_APPROVAL.value,
                "stage": OrderStage.AWAITING_APPROVAL.value,
                "approval_reasons": reasons,
                "updated_at": now,
            },
        )

    def reject(self, *, order_reference: str, execution_id: str, reason: str, now: str) -> None:
        self._update_owned(
            order_reference,
            execution_id,
            {
                "status": OrderStatus.REJECTED.value,
                "stage": OrderStage.REJECTED.value,
                "rejection_reason": reason,
                "updated_at": now,
                "rejected_at": now,
            },
        )

    def complete(self, *, order_reference: str, execution_id: str, now: str) -> None:
        self._update_owned(
            order_reference,
            execution_id,
            {
                "status": OrderStatus.COMPLETED.value,
                "stage": OrderStage.COMPLETED.value,
                "updated_at": now,
                "completed_at": now,
            },
        )

    def fail(
        self,
        *,
        order_reference: str,
        execution_id: str,
        error: str,
        cause: str,
        now: str,
    ) -> bool:
        """Mark the order FAILED, creating the item if the order never got stored (it failed
        recognition or validation). Returns False, changing nothing, if another execution owns
        the order."""
        values = {
            "status": OrderStatus.FAILED.value,
            "stage": OrderStage.FAILED.value,
            "error": error,
            "cause": cause,
            "updated_at": now,
            "failed_at": now,
            "execution_id": execution_id,
        }
        try:
            self._update(
                order_reference,
                values,
                condition="attribute_not_exists(#pk) OR execution_id = :exec",
                condition_values={":exec": execution_id},
                set_if_absent={"created_at": now},
            )
        except ClientError as err:
            if _is_condition_failure(err):
                return False
            raise
        return True

    def mark_item(
        self,
        *,
        order_reference: str,
        item_key: str,
        status: ItemStatus,
        now: str,
        attributes: dict[str, Any] | None = None,
    ) -> bool:
        """Set one item's status (e.g. a voucher SUBMITTED at the vendor). Returns False if the
        order or item is unknown."""
        names = {"#pk": PARTITION_KEY, "#items": "items", "#item": item_key}
        values: dict[str, Any] = {":status": status.value, ":now": now}
        sets = ["#items.#item.#status = :status", "#items.#item.updated_at = :now"]
        names["#status"] = "status"
        for index, (key, value) in enumerate((attributes or {}).items()):
            names[f"#a{index}"] = key
            values[f":a{index}"] = value
            sets.append(f"#items.#item.#a{index} = :a{index}")
        try:
            self._client.update_item(
                TableName=self._table,
                Key={PARTITION_KEY: _to_attr(order_reference)},
                UpdateExpression="SET " + ", ".join(sets),
                ConditionExpression="attribute_exists(#pk) AND attribute_exists(#items.#item)",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues={k: _to_attr(v) for k, v in values.items()},
            )
        except ClientError as err:
            if _is_condition_failure(err):
                return False
            raise
        return True

    def get(self, order_reference: str) -> dict[str, Any] | None:
        response = self._client.get_item(
            TableName=self._table,
            Key={PARTITION_KEY: _to_attr(order_reference)},
            ConsistentRead=True,
        )
        item = response.get("Item")
        if item is None:
            return None
        return {k: _deserializer.deserialize(v) for k, v in item.items()}

    # -- helpers ------------------------------------------------------------------------------

    def _update_owned(
        self, order_reference: str, execution_id: str, values: dict[str, Any]
    ) -> None:
        try:
            self._update(
                order_reference,
                values,
                condition="attribute_exists(#pk) AND execution_id = :exec",
                condition_values={":exec": execution_id},
            )
        except ClientError as err:
            if _is_condition_failure(err):
                raise NotOwnerError(order_reference, _owner_in(err)) from err
            raise

    def _update(
        self,
        order_reference: str,
        values: dict[str, Any],
        *,
        condition: str,
        condition_values: dict[str, Any],
        set_if_absent: dict[str, Any] | None = None,
    ) -> None:
        names = {"#pk": PARTITION_KEY}
        attr_values = dict(condition_values)
        sets = []
        for index, (key, value) in enumerate(values.items()):
            names[f"#f{index}"] = key
            attr_values[f":f{index}"] = value
            sets.append(f"#f{index} = :f{index}")
        for index, (key, value) in enumerate((set_if_absent or {}).items()):
            names[f"#n{index}"] = key
            attr_values[f":n{index}"] = value
            sets.append(f"#n{index} = if_not_exists(#n{index}, :n{index})")
        self._client.update_item(
            TableName=self._table,
            Key={PARTITION_KEY: _to_attr(order_reference)},
            UpdateExpression="SET " + ", ".join(sets),
            ConditionExpression=condition,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues={k: _to_attr(v) for k, v in attr_values.items()},
        )


def _owner_in(err: ClientError) -> str | None:
    """The owning execution, when DynamoDB returned the old item with the condition failure."""
    owner = (err.response.get("Item") or {}).get("execution_id", {}).get("S")
    return str(owner) if owner else None


def _is_condition_failure(err: ClientError) -> bool:
    return err.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"

"""The orders table: per order, one *order record* and one *item record* per vendor effect.

Key: ``order_reference`` (partition) and ``record`` (sort): ``order`` for the order record,
``item#points``, ``item#voucher#<code>``, ``item#reward#<code>`` for its items. Items are records
of their own, not a map inside the order record, because the Token Handler updates one item per
vendor answer: a nested map would make every update rewrite (and pay write units for) the whole
order, and an order of 2,000 vouchers and rewards would pass DynamoDB's 400 KB item limit.

Every write to the order record after the first is conditional on ``execution_id``: the execution
that stored the order owns it, so a duplicate execution (a redelivered ``order.received`` after
the 90-day name window, or an operator's mistake) can never overwrite the status of the real one.
"""

from __future__ import annotations

from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from loyalty.order_status import (
    ITEM_RECORD_PREFIX,
    ORDER_RECORD,
    PARTITION_KEY,
    SORT_KEY,
    ItemStatus,
    OrderStage,
    OrderStatus,
)

BATCH_WRITE_LIMIT = 25


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

    def _key(self, order_reference: str, record: str = ORDER_RECORD) -> dict[str, Any]:
        return {PARTITION_KEY: _to_attr(order_reference), SORT_KEY: _to_attr(record)}

    def create(
        self,
        *,
        order_reference: str,
        execution_id: str,
        attributes: dict[str, Any],
        items: dict[str, dict[str, Any]],
        now: str,
    ) -> None:
        """Store a new order and its PENDING items. Idempotent for its own execution (a retried
        storage step rewrites the same records); raises NotOwnerError if another execution
        stored it first."""
        record = {
            **attributes,
            PARTITION_KEY: order_reference,
            SORT_KEY: ORDER_RECORD,
            "execution_id": execution_id,
            "status": OrderStatus.PROCESSING.value,
            "stage": OrderStage.STORED.value,
            "created_at": now,
            "updated_at": now,
        }
        try:
            self._client.put_item(
                TableName=self._table,
                Item={k: _to_attr(v) for k, v in record.items()},
                ConditionExpression="attribute_not_exists(#pk) OR execution_id = :exec",
                ExpressionAttributeNames={"#pk": PARTITION_KEY},
                ExpressionAttributeValues={":exec": _to_attr(execution_id)},
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as err:
            if _is_condition_failure(err):
                raise NotOwnerError(order_reference, _owner_in(err)) from err
            raise
        # The order record is this execution's: its item records can be written unconditionally.
        puts = [
            {
                "PutRequest": {
                    "Item": {
                        **self._key(order_reference, ITEM_RECORD_PREFIX + key),
                        **{k: _to_attr(v) for k, v in {**value, "updated_at": now}.items()},
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
        order has no such item."""
        names = {"#pk": PARTITION_KEY, "#status": "status"}
        values: dict[str, Any] = {":status": status.value, ":now": now}
        sets = ["#status = :status", "updated_at = :now"]
        for index, (key, value) in enumerate((attributes or {}).items()):
            names[f"#a{index}"] = key
            values[f":a{index}"] = value
            sets.append(f"#a{index} = :a{index}")
        try:
            self._client.update_item(
                TableName=self._table,
                Key=self._key(order_reference, ITEM_RECORD_PREFIX + item_key),
                UpdateExpression="SET " + ", ".join(sets),
                ConditionExpression="attribute_exists(#pk)",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues={k: _to_attr(v) for k, v in values.items()},
            )
        except ClientError as err:
            if _is_condition_failure(err):
                return False
            raise
        return True

    def get(self, order_reference: str) -> dict[str, Any] | None:
        """The order record with its items as ``items`` (keyed without the record prefix), or
        None for an unknown order."""
        order: dict[str, Any] | None = None
        items: dict[str, dict[str, Any]] = {}
        arguments: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "#pk = :ref",
            "ExpressionAttributeNames": {"#pk": PARTITION_KEY},
            "ExpressionAttributeValues": {":ref": _to_attr(order_reference)},
            "ConsistentRead": True,
        }
        while True:
            page = self._client.query(**arguments)
            for raw in page.get("Items", []):
                record = {k: _deserializer.deserialize(v) for k, v in raw.items()}
                name = str(record.pop(SORT_KEY))
                if name == ORDER_RECORD:
                    order = record
                else:
                    record.pop(PARTITION_KEY, None)
                    items[name.removeprefix(ITEM_RECORD_PREFIX)] = record
            if "LastEvaluatedKey" not in page:
                break
            arguments["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        if order is None:
            return None
        return {**order, "items": items}

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
            Key=self._key(order_reference),
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

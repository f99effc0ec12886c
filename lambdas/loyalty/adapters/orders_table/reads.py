"""Reading orders: one order with its items, its order record alone, or a page of the orders in
a status (the status index)."""

from __future__ import annotations

from typing import Any

from loyalty.adapters.orders_table.access import OrdersTableAccess, deserializer, to_attr
from loyalty.order_status import (
    ITEM_RECORD_PREFIX,
    ORDER_RECORD,
    PARTITION_KEY,
    SORT_KEY,
    STATUS_INDEX,
    OrderStatus,
)


class OrderReads(OrdersTableAccess):
    """Read orders; never writes."""

    def get(self, order_reference: str) -> dict[str, Any] | None:
        """The order record with its items as ``items`` (keyed without the record prefix), or
        None for an unknown order."""
        order: dict[str, Any] | None = None
        items: dict[str, dict[str, Any]] = {}
        arguments: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "#pk = :ref",
            "ExpressionAttributeNames": {"#pk": PARTITION_KEY},
            "ExpressionAttributeValues": {":ref": to_attr(order_reference)},
            "ConsistentRead": True,
        }
        while True:
            page = self._client.query(**arguments)
            for raw in page.get("Items", []):
                record = {k: deserializer.deserialize(v) for k, v in raw.items()}
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

    def order_record(self, order_reference: str) -> dict[str, Any] | None:
        """The order record alone (status, stage, ...), without reading its items: what a
        status check needs, whatever the size of the order."""
        page = self._client.query(
            TableName=self._table,
            KeyConditionExpression="#pk = :ref AND #sk = :order",
            ExpressionAttributeNames={"#pk": PARTITION_KEY, "#sk": SORT_KEY},
            ExpressionAttributeValues={
                ":ref": to_attr(order_reference),
                ":order": to_attr(ORDER_RECORD),
            },
            ConsistentRead=True,
        )
        raws = page.get("Items", [])
        return {k: deserializer.deserialize(v) for k, v in raws[0].items()} if raws else None

    def by_status(
        self, status: OrderStatus, *, limit: int, after: dict[str, Any] | None = None
    ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        """Orders in ``status``, newest in it first: a page of at most ``limit`` order records
        (the index's attributes) and the key to continue after, if there may be more."""
        arguments: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": STATUS_INDEX,
            "KeyConditionExpression": "#status = :status",
            "ExpressionAttributeNames": {"#status": "status"},
            "ExpressionAttributeValues": {":status": to_attr(status.value)},
            "ScanIndexForward": False,
            "Limit": limit,
        }
        if after is not None:
            arguments["ExclusiveStartKey"] = {k: to_attr(v) for k, v in after.items()}
        page = self._client.query(**arguments)
        orders = [
            {k: deserializer.deserialize(v) for k, v in raw.items() if k != SORT_KEY}
            for raw in page.get("Items", [])
        ]
        last = page.get("LastEvaluatedKey")
        return orders, {k: deserializer.deserialize(v) for k, v in last.items()} if last else None

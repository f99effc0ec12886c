"""The orders table's client, keys and attribute values: what every part of the table uses."""

from __future__ import annotations

from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from loyalty.order_status import ORDER_RECORD, PARTITION_KEY, SORT_KEY

_serializer = TypeSerializer()
deserializer = TypeDeserializer()


def to_attr(value: Any) -> dict[str, Any]:
    return _serializer.serialize(value)


class OrdersTableAccess:
    """The client and the table's name, and the key of one of an order's records."""

    def __init__(self, *, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def _key(self, order_reference: str, record: str = ORDER_RECORD) -> dict[str, Any]:
        return {PARTITION_KEY: to_attr(order_reference), SORT_KEY: to_attr(record)}

"""Python values to and from DynamoDB's attribute values, for the orders table's records."""

from __future__ import annotations

from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

_serializer = TypeSerializer()
deserializer = TypeDeserializer()


def to_attr(value: Any) -> dict[str, Any]:
    return _serializer.serialize(value)

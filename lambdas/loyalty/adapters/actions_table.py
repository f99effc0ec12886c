"""The actions table: steps that wait for a person, one item per order and action.

The item holds the waiting task's token, which never leaves the service: clients see
``public_view`` of it. A decision is taken with a conditional write that only succeeds while the
action is PENDING and not past its deadline, so two people deciding at once cannot both win.
"""

from __future__ import annotations

from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from loyalty.adapters.dynamodb import is_condition_failure
from loyalty.order_status import ACTION_SORT_KEY, PARTITION_KEY, ActionStatus

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()
PUBLIC_FIELDS = (
    ACTION_SORT_KEY,
    "status",
    "reasons",
    "requested_at",
    "expires_at",
    "decision",
    "comment",
    "decided_by",
    "decided_at",
)


def public_view(item: dict[str, Any]) -> dict[str, Any]:
    """What a client may see of an action (never the task token)."""
    view = {key: item[key] for key in PUBLIC_FIELDS if key in item}
    if "expires_at" in view:
        view["expires_at"] = int(view["expires_at"])
    return view


def _attrs(values: dict[str, Any]) -> dict[str, Any]:
    return {key: _serializer.serialize(value) for key, value in values.items()}


def _item(raw: dict[str, Any]) -> dict[str, Any]:
    return {key: _deserializer.deserialize(value) for key, value in raw.items()}


class ActionsTable:
    def __init__(self, *, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def _key(self, order_reference: str, action: str) -> dict[str, Any]:
        return _attrs({PARTITION_KEY: order_reference, ACTION_SORT_KEY: action})

    def open(
        self,
        *,
        order_reference: str,
        action: str,
        task_token: str,
        execution_id: str,
        reasons: list[str],
        requested_at: str,
        expires_at: int,
    ) -> bool:
        """Record a step waiting for a person. A re-sent request (the step was retried) replaces
        the token of the still-pending action; a decided or expired action stays as it is
        (returns False: the request is stale)."""
        try:
            self._client.put_item(
                TableName=self._table,
                Item=_attrs(
                    {
                        PARTITION_KEY: order_reference,
                        ACTION_SORT_KEY: action,
                        "status": ActionStatus.PENDING.value,
                        "task_token": task_token,
                        "execution_id": execution_id,
                        "reasons": reasons,
                        "requested_at": requested_at,
                        "expires_at": expires_at,
                        "expiration": expires_at + 30 * 24 * 3600,  # TTL: kept a month after
                    }
                ),
                # An earlier run's action that granted nothing (expired, or a decision never
                # delivered) is this run's to open again; a granted one carries over instead.
                ConditionExpression=(
                    "attribute_not_exists(#pk) OR #status = :pending OR (execution_id <> :exec "
                    "AND NOT (#status = :decided AND decision = :approve))"
                ),
                ExpressionAttributeNames={"#pk": PARTITION_KEY, "#status": "status"},
                ExpressionAttributeValues=_attrs(
                    {
                        ":pending": ActionStatus.PENDING.value,
                        ":exec": execution_id,
                        ":decided": ActionStatus.DECIDED.value,
                        ":approve": "approve",
                    }
                ),
            )
        except ClientError as err:
            if not is_condition_failure(err):
                raise
            return False
        return True

    def get(self, order_reference: str, action: str) -> dict[str, Any] | None:
        raw = self._client.get_item(
            TableName=self._table, Key=self._key(order_reference, action), ConsistentRead=True
        ).get("Item")
        return _item(raw) if raw else None

    def list(self, order_reference: str) -> list[dict[str, Any]]:
        response = self._client.query(
            TableName=self._table,
            KeyConditionExpression="#pk = :ref",
            ExpressionAttributeNames={"#pk": PARTITION_KEY},
            ExpressionAttributeValues=_attrs({":ref": order_reference}),
            ConsistentRead=True,
        )
        return [_item(raw) for raw in response.get("Items", [])]

    def claim(
        self,
        *,
        order_reference: str,
        action: str,
        decision: str,
        comment: str | None,
        decided_by: str,
        decided_at: str,
        now: int,
    ) -> dict[str, Any] | None:
        """Take the decision if the action is still PENDING and before its deadline. Returns the
        claimed item (with its token), or None when someone else decided or it expired."""
        values = {
            ":pending": ActionStatus.PENDING.value,
            ":decided": ActionStatus.DECIDED.value,
            ":decision": decision,
            ":comment": comment or "",
            ":by": decided_by,
            ":at": decided_at,
            ":now": now,
        }
        try:
            response = self._client.update_item(
                TableName=self._table,
                Key=self._key(order_reference, action),
                UpdateExpression=(
                    "SET #status = :decided, decision = :decision, #comment = :comment, "
                    "decided_by = :by, decided_at = :at"
                ),
                ConditionExpression="#status = :pending AND expires_at > :now",
                ExpressionAttributeNames={"#status": "status", "#comment": "comment"},
                ExpressionAttributeValues=_attrs(values),
                ReturnValues="ALL_NEW",
            )
        except ClientError as err:
            if is_condition_failure(err):
                return None
            raise
        return _item(response["Attributes"])

    def release(self, *, order_reference: str, action: str, decided_at: str) -> None:
        """Undo a claim whose decision could not be delivered (so the person can try again)."""
        try:
            self._client.update_item(
                TableName=self._table,
                Key=self._key(order_reference, action),
                UpdateExpression=(
                    "SET #status = :pending REMOVE decision, #comment, decided_by, decided_at"
                ),
                ConditionExpression="#status = :decided AND decided_at = :at",
                ExpressionAttributeNames={"#status": "status", "#comment": "comment"},
                ExpressionAttributeValues=_attrs(
                    {
                        ":pending": ActionStatus.PENDING.value,
                        ":decided": ActionStatus.DECIDED.value,
                        ":at": decided_at,
                    }
                ),
            )
        except ClientError as err:
            if not is_condition_failure(err):
                raise

    def expire(self, *, order_reference: str, action: str) -> None:
        """The waiting step gave up (or its token is closed): nobody can decide any more."""
        try:
            self._client.update_item(
                TableName=self._table,
                Key=self._key(order_reference, action),
                UpdateExpression="SET #status = :expired",
                ConditionExpression="attribute_exists(#status)",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues=_attrs({":expired": ActionStatus.EXPIRED.value}),
            )
        except ClientError as err:
            if not is_condition_failure(err):
                raise

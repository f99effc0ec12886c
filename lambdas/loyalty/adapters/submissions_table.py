"""The submissions table: one record per order reference submitted through the Order API.

A record is claimed (``PUTTING``) *before* the order is put on the bus and marked ``PUT`` after,
with the digest of the order's body. The reference is the submission's identity for as long as
the record lives (``expires_at``, DynamoDB TTL): another body under it is always refused, even
when the request that claimed it died mid-way; the same body again is the same order. A claim
left ``PUTTING`` longer than ``stale_after`` (its request died after or before putting the order)
is taken over by the next request with the same body, which puts the order again: the starter
starts one execution per reference, so a second put never makes a second order.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from loyalty.adapters.dynamodb import is_condition_failure

KEY = "id"
TTL_ATTRIBUTE = "expiration"
_PREFIX = "order#"

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


class SubmissionState(StrEnum):
    PUTTING = "PUTTING"
    PUT = "PUT"


@dataclass(frozen=True)
class Submission:
    """The submission that holds a reference, as another request sees it."""

    digest: str
    state: SubmissionState
    accepted_at: str
    submitted_by: str | None = None
    """The principal that submitted it (none on records older than this field)."""


@dataclass(frozen=True)
class Claimed:
    taken_over: bool
    """From a request of the same body that died: it may have put the order already."""


class SubmissionsTable:
    def __init__(self, *, client: Any, table_name: str, stale_after: float) -> None:
        self._client = client
        self._table = table_name
        self._stale_after = stale_after

    def claim(
        self,
        *,
        reference: str,
        digest: str,
        claim: str,
        now: float,
        accepted_at: str,
        expires_at: int,
        submitted_by: str,
    ) -> Submission | Claimed:
        """Claim ``reference`` for this request of ``submitted_by``: ``Claimed`` (new, or a stale
        claim of the same body taken over), else the submission that holds it."""
        record = {
            KEY: _PREFIX + reference,
            "digest": digest,
            "state": SubmissionState.PUTTING.value,
            "claimed_at": Decimal(str(round(now, 3))),
            "accepted_at": accepted_at,
            "claim": claim,
            "submitted_by": submitted_by,
            TTL_ATTRIBUTE: expires_at,
        }
        try:
            response = self._client.put_item(
                TableName=self._table,
                Item={k: _serializer.serialize(v) for k, v in record.items()},
                # New, or a claim of the same body whose request died before marking it PUT.
                ConditionExpression=(
                    "attribute_not_exists(#id) OR "
                    "(digest = :digest AND #state = :putting AND claimed_at < :stale)"
                ),
                ExpressionAttributeNames={"#id": KEY, "#state": "state"},
                ExpressionAttributeValues={
                    ":digest": {"S": digest},
                    ":putting": {"S": SubmissionState.PUTTING.value},
                    ":stale": {"N": str(round(now - self._stale_after, 3))},
                },
                ReturnValues="ALL_OLD",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as err:
            if not is_condition_failure(err):
                raise
            old = err.response.get("Item")
            if old is None:  # gone between the put and now (TTL): ask again
                return self.claim(
                    reference=reference,
                    digest=digest,
                    claim=claim,
                    now=now,
                    accepted_at=accepted_at,
                    expires_at=expires_at,
                    submitted_by=submitted_by,
                )
            return _submission(old)
        return Claimed(taken_over="Attributes" in response)

    def get(self, reference: str) -> Submission | None:
        """The submission of ``reference`` through the API, if it made one (and it is not
        expired)."""
        item = self._client.get_item(
            TableName=self._table, Key=_key(reference), ConsistentRead=True
        ).get("Item")
        return _submission(item) if item else None

    def mark_put(self, *, reference: str, claim: str) -> None:
        """The order is on the bus (only the holder of the claim marks it)."""
        self._client.update_item(
            TableName=self._table,
            Key=_key(reference),
            UpdateExpression="SET #state = :put",
            ConditionExpression="claim = :claim",
            ExpressionAttributeNames={"#state": "state"},
            ExpressionAttributeValues={
                ":put": {"S": SubmissionState.PUT.value},
                ":claim": {"S": claim},
            },
        )

    def let_go(self, *, reference: str, claim: str) -> None:
        """The put failed (maybe after EventBridge took it): the claim may be taken over at once
        by the same body, and still refuses any other."""
        try:
            self._client.update_item(
                TableName=self._table,
                Key=_key(reference),
                UpdateExpression="SET claimed_at = :never",
                ConditionExpression="claim = :claim AND #state = :putting",
                ExpressionAttributeNames={"#state": "state"},
                ExpressionAttributeValues={
                    ":never": {"N": "0"},
                    ":claim": {"S": claim},
                    ":putting": {"S": SubmissionState.PUTTING.value},
                },
            )
        except ClientError as err:
            if not is_condition_failure(err):
                raise

    def release(self, *, reference: str, claim: str) -> None:
        """Forget a claim whose order was refused before anything was put."""
        try:
            self._client.delete_item(
                TableName=self._table,
                Key=_key(reference),
                ConditionExpression="claim = :claim AND #state = :putting",
                ExpressionAttributeNames={"#state": "state"},
                ExpressionAttributeValues={
                    ":claim": {"S": claim},
                    ":putting": {"S": SubmissionState.PUTTING.value},
                },
            )
        except ClientError as err:
            if not is_condition_failure(err):  # taken over meanwhile: not ours to forget
                raise


def _key(reference: str) -> dict[str, Any]:
    return {KEY: {"S": _PREFIX + reference}}


def _submission(raw: dict[str, Any]) -> Submission:
    item = {k: _deserializer.deserialize(v) for k, v in raw.items()}
    return Submission(
        digest=str(item["digest"]),
        state=SubmissionState(str(item["state"])),
        accepted_at=str(item["accepted_at"]),
        submitted_by=str(item["submitted_by"]) if "submitted_by" in item else None,
    )

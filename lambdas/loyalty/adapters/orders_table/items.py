"""The item records: what the vendor's answers make of each item (``mark_item``)."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from botocore.exceptions import ClientError

from loyalty.adapters.dynamodb import is_condition_failure
from loyalty.adapters.orders_table.access import OrdersTableAccess, to_attr
from loyalty.adapters.orders_table.refusals import old_item
from loyalty.order_status import (
    ITEM_ATTEMPT,
    ITEM_RECORD_PREFIX,
    PARTITION_KEY,
    ItemStatus,
)


class ItemUpdate(StrEnum):
    """What ``mark_item`` did."""

    RECORDED = "recorded"
    NO_SUCH_ITEM = "no such item"
    ALREADY_APPLIED = "already SUBMITTED"
    """The item was applied at the vendor; a later answer cannot make it anything else."""
    NOT_APPLICABLE = "not in a status this answer applies to"
    """A reversal's answer for an item that was not applied (or was reversed already), or a
    late forward answer for an item being reversed."""
    OTHER_RUN = "asked for again by a later run"
    """A late answer of an earlier run, for an item an operator's re-run asked for again: the
    re-run's own answer says what the vendor did."""


class ItemRecords(OrdersTableAccess):
    """Record the vendor's answer for one item."""

    def mark_item(
        self,
        *,
        order_reference: str,
        item_key: str,
        status: ItemStatus,
        now: str,
        attributes: dict[str, Any] | None = None,
        reversal: bool = False,
        attempt: int = 1,
    ) -> ItemUpdate:
        """Set one item's status (e.g. a voucher SUBMITTED at the vendor). An item already
        SUBMITTED keeps that status whatever a later (stale) answer says, and a reversed one
        (COMPENSATED, or being reversed) is no forward answer's to change. ``reversal``: the
        answer to its reversal, which only applies to an item applied and not reversed yet.
        ``attempt``: the run that asked (an item a re-run asked for again takes only the re-run's
        answers; a reversal's answer is fenced by the item's status alone)."""
        names = {"#pk": PARTITION_KEY, "#status": "status"}
        values: dict[str, Any] = {":status": status.value, ":now": now}
        sets = ["#status = :status", "updated_at = :now"]
        for index, (key, value) in enumerate((attributes or {}).items()):
            names[f"#a{index}"] = key
            values[f":a{index}"] = value
            sets.append(f"#a{index} = :a{index}")
        condition = "attribute_exists(#pk)"
        update = "SET " + ", ".join(sets)
        stale = [k for k in ("error", "reason") if k not in (attributes or {})]
        if stale:
            # What an earlier answer said went wrong is not this answer's word (an applied or
            # reversed item's answer carries no error; every other one carries its own).
            update += " REMOVE " + ", ".join(f"#{k}" for k in stale)
            names.update({f"#{k}": k for k in stale})
        if reversal:
            condition += " AND #status IN (:applied, :not_reversed)"
            values[":applied"] = ItemStatus.SUBMITTED.value
            values[":not_reversed"] = ItemStatus.COMPENSATION_FAILED.value
        else:
            condition += " AND NOT #status IN (:reversed, :not_reversed)"
            values[":reversed"] = ItemStatus.COMPENSATED.value
            values[":not_reversed"] = ItemStatus.COMPENSATION_FAILED.value
            if status is not ItemStatus.SUBMITTED:
                condition += " AND #status <> :applied"
                values[":applied"] = ItemStatus.SUBMITTED.value
            # The first run's items carry no attempt; a re-run writes its own on what it asks.
            names["#attempt"] = ITEM_ATTEMPT
            values[":attempt"] = attempt
            condition += (
                " AND (attribute_not_exists(#attempt) OR #attempt = :attempt)"
                if attempt == 1
                else " AND #attempt = :attempt"
            )
        try:
            self._client.update_item(
                TableName=self._table,
                Key=self._key(order_reference, ITEM_RECORD_PREFIX + item_key),
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues={k: to_attr(v) for k, v in values.items()},
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as err:
            if is_condition_failure(err):
                old = old_item(err)
                if old is None:
                    return ItemUpdate.NO_SUCH_ITEM
                if old.get("status") == ItemStatus.SUBMITTED and not reversal:
                    return ItemUpdate.ALREADY_APPLIED
                if not reversal and int(old.get(ITEM_ATTEMPT, 1)) != attempt:
                    return ItemUpdate.OTHER_RUN
                return ItemUpdate.NOT_APPLICABLE
            raise
        return ItemUpdate.RECORDED

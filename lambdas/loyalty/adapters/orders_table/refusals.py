"""Why a conditional write to an order record was refused, and what the step is told: another
execution owns the order (``NotOwnerError``), somebody cancelled it (``OrderCancelled``), or the
order has moved past the step (``StaleStepError``)."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from loyalty.adapters.orders_table.access import deserializer
from loyalty.domain.errors import OrderCancelled
from loyalty.order_status import RUNNING_STATUSES


class NotOwnerError(Exception):
    """The order exists and belongs to another execution."""

    def __init__(self, order_reference: str, owner: str | None) -> None:
        super().__init__(
            f"order {order_reference} is already being processed by execution {owner or 'unknown'}"
        )
        self.owner = owner


class StaleStepError(Exception):
    """The owning execution's order has moved past this step (or ended): a late run of the step
    changes nothing."""

    def __init__(
        self, order_reference: str, wanted: str, current: dict[str, Any] | None = None
    ) -> None:
        state = "not stored"
        if current:
            state = f"{_text(current, 'status')} at stage {_text(current, 'stage')}"
        super().__init__(f"order {order_reference} is {state}: {wanted} ignored (stale step)")


def old_item(err: ClientError) -> dict[str, Any] | None:
    """The item as it was when a condition failed (DynamoDB returns it on request)."""
    raw = err.response.get("Item")
    return {k: deserializer.deserialize(v) for k, v in raw.items()} if raw else None


def _text(item: dict[str, Any], name: str) -> str:
    return str(item.get(name, "?"))


def refusal(
    err: ClientError, order_reference: str, execution_id: str, wanted: str
) -> NotOwnerError | StaleStepError | OrderCancelled:
    """Why a conditional write of the owning execution was refused: another execution owns the
    order, somebody cancelled it, or the order has moved past the step."""
    owner = _owner_in(err)
    if owner is not None and owner != execution_id:
        return NotOwnerError(order_reference, owner)
    old = old_item(err) or {}
    if "cancel_requested" in old and old.get("status") in RUNNING_STATUSES:
        cancel = old["cancel_requested"]
        return OrderCancelled(
            f"order {order_reference} was cancelled by {cancel.get('by')} at {cancel.get('at')}"
            + (f": {cancel['comment']}" if cancel.get("comment") else "")
        )
    return StaleStepError(order_reference, wanted, old)


def _owner_in(err: ClientError) -> str | None:
    """The owning execution, when DynamoDB returned the old item with the condition failure."""
    owner = (err.response.get("Item") or {}).get("execution_id", {}).get("S")
    return str(owner) if owner else None

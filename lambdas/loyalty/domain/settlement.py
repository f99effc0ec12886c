"""How an order ends, decided from what its items' records say the vendor did.

Every vendor request of an order has been answered (or has given up) before this is asked: the
vendor branches of the state machine never fail fast. So the items are final, and:

* every item applied (``SUBMITTED``) → the order completes;
* any item whose outcome is not known (``UNKNOWN``, or still ``PENDING``: its step ended without
  an answer, so the request may have been applied or not) → ``VendorOutcomeUnknown``, and the order
  is parked as ``NEEDS_RECONCILIATION``: "not applied" is only ever said when it is known;
* otherwise the first item that was not applied names the error (``VendorRejected``, ...).

Plain Python: the completion and failure-recording workers call it, tests call it directly.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from loyalty.contract import ErrorName
from loyalty.order_status import POINTS_ITEM, ItemStatus, OrderStatus

_KIND_ORDER = {POINTS_ITEM: 0, "voucher": 1, "reward": 2}
NO_ANSWER = "its vendor step ended without an answer"
MAX_LISTED_ITEMS_BYTES = 96 * 1024
"""Above this, an event carries the count of items per status instead of the list."""
MAX_CAUSE_ITEMS = 5
"""Items named in a cause; more are counted (an order may have 2,000)."""


@dataclass(frozen=True)
class Settlement:
    error: str | None
    """None when every item was applied."""
    cause: str = ""
    unanswered: tuple[str, ...] = ()
    """Items still PENDING: to be recorded as UNKNOWN before the order ends."""

    @property
    def completed(self) -> bool:
        return self.error is None


def item_order(key: str) -> tuple[int, str]:
    """Points first, then vouchers, then rewards, each by code."""
    kind = key.split("#", 1)[0]
    return _KIND_ORDER.get(kind, len(_KIND_ORDER)), key


def settle(items: Mapping[str, Mapping[str, Any]]) -> Settlement:
    ordered = sorted(items, key=item_order)
    unanswered = [k for k in ordered if items[k].get("status") == ItemStatus.PENDING]
    unknown = [k for k in ordered if items[k].get("status") == ItemStatus.UNKNOWN]
    refused = [k for k in ordered if items[k].get("status") == ItemStatus.ERROR]
    if unanswered or unknown:
        doubtful = [*(f"{k} ({NO_ANSWER})" for k in unanswered), *map(_described(items), unknown)]
        cause = f"the vendor may or may not have applied {listed(doubtful)}"
        if refused:
            cause += f"; not applied: {listed([_described(items)(k) for k in refused])}"
        return Settlement(
            ErrorName.VENDOR_OUTCOME_UNKNOWN.value, cause, unanswered=tuple(unanswered)
        )
    if refused:
        first = items[refused[0]]
        cause = f"{refused[0]} not applied: {first.get('reason') or 'no reason given'}"
        if len(refused) > 1:
            cause += f" (and {listed(refused[1:])})"
        return Settlement(str(first.get("error") or ErrorName.VENDOR_ERROR.value), cause)
    return Settlement(None)


def final_status(error: str, items: Mapping[str, Mapping[str, Any]]) -> OrderStatus:
    """FAILED (CANCELLED, when somebody cancelled it), unless an effect's outcome is unknown:
    then the order waits for an operator."""
    if error == ErrorName.VENDOR_OUTCOME_UNKNOWN or any(
        item.get("status") == ItemStatus.UNKNOWN for item in items.values()
    ):
        return OrderStatus.NEEDS_RECONCILIATION
    if error == ErrorName.ORDER_CANCELLED:
        return OrderStatus.CANCELLED
    return OrderStatus.FAILED


def named_error(error: str, cause: str | None) -> tuple[str, str]:
    """The error an order ends with. Step Functions' own errors (``States.Runtime``,
    ``States.DataLimitExceeded``, ...) are renamed ``StepFailed``: a ``Fail`` state may not raise a
    name that starts with ``States.``; the cause keeps the original name."""
    if error.startswith("States."):
        return ErrorName.STEP_FAILED.value, f"{error}: {cause or 'no cause given'}"
    return error, cause or ""


def _described(items: Mapping[str, Mapping[str, Any]]) -> Any:
    def describe(key: str) -> str:
        item = items[key]
        reason = item.get("reason") or item.get("error") or "no reason given"
        return f"{key} ({reason})"

    return describe


def listed(names: list[str]) -> str:
    """Names for a cause: the first few, then how many more."""
    shown = ", ".join(names[:MAX_CAUSE_ITEMS])
    if len(names) > MAX_CAUSE_ITEMS:
        shown += f" and {len(names) - MAX_CAUSE_ITEMS} more"
    return shown


def item_statuses(items: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """``items``: each item's status and, when not applied, its error; or, for an order too large
    to list, ``items_by_status`` (the counts)."""
    per_item = {
        key: {"status": item.get("status"), **({"error": item["error"]} if "error" in item else {})}
        for key, item in items.items()
    }
    if len(json.dumps(per_item)) <= MAX_LISTED_ITEMS_BYTES:
        return {"items": per_item}
    counts: dict[str, int] = {}
    for item in items.values():
        counts[str(item.get("status"))] = counts.get(str(item.get("status")), 0) + 1
    return {"items_by_status": counts}

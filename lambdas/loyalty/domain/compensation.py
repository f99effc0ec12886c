"""Compensation: reversing what a failed order applied, decided from its items' records.

An order that fails after the vendor applied some of its effects (points credited, then a voucher
refused) is compensated when the deploy's policy says so (``loyalty:onPartialFailure``,
``compensate`` by default): every applied effect is reversed through the Vendor Mediator, and the
order's net effect at the vendor is zero. Only an order whose every effect is *known* is
compensated: one with an unknown outcome is parked for reconciliation first.

Plain Python: the failure-recording and compensation-settling workers call it, tests call it
directly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from loyalty.contract import REVERSAL_OF, ErrorName, VendorRequestType
from loyalty.domain.settlement import item_order, listed
from loyalty.order_status import (
    POINTS_ITEM,
    REVERSIBLE_ITEM_STATUSES,
    ItemStatus,
    OrderStatus,
)

NO_REVERSAL_ANSWER = "its reversal got no answer, so it may or may not have been made"


def plan_compensation(
    *, order_type: str, points: int, items: Mapping[str, Mapping[str, Any]]
) -> dict[str, Any] | None:
    """The reversals a failed order needs (``None``: nothing to reverse), shaped for the state
    machine: the points request's type and points (0 when the points were not applied: the
    mediator answers that without a call, and the answer changes no item), and one entry per
    voucher and reward to give back."""
    reversible = sorted(
        (k for k, item in items.items() if item.get("status") in REVERSIBLE_ITEM_STATUSES),
        key=item_order,
    )
    if not reversible:
        return None
    return {
        "points_type": REVERSAL_OF[VendorRequestType(order_type)].value,
        "points": points if POINTS_ITEM in reversible else 0,
        "vouchers": [{"voucher_code": _code(k)} for k in reversible if k.startswith("voucher#")],
        "rewards": [{"reward_code": _code(k)} for k in reversible if k.startswith("reward#")],
    }


@dataclass(frozen=True)
class CompensationOutcome:
    status: OrderStatus
    error: str
    cause: str
    unanswered: tuple[str, ...] = ()
    """Items whose reversal got no answer: to be recorded UNKNOWN."""


def compensation_outcome(
    items: Mapping[str, Mapping[str, Any]], *, error: str, cause: str
) -> CompensationOutcome:
    """How a compensation ended, once every reversal has been answered (or has given up). An
    item still ``SUBMITTED`` got no answer to its reversal: it may have been reversed or not."""
    ordered = sorted(items, key=item_order)
    unanswered = [k for k in ordered if items[k].get("status") == ItemStatus.SUBMITTED]
    unknown = [k for k in ordered if items[k].get("status") == ItemStatus.UNKNOWN]
    refused = [k for k in ordered if items[k].get("status") == ItemStatus.COMPENSATION_FAILED]
    if unanswered or unknown:
        doubtful = [f"{k} ({NO_REVERSAL_ANSWER})" for k in unanswered]
        doubtful += [f"{k} ({items[k].get('reason') or 'outcome unknown'})" for k in unknown]
        return CompensationOutcome(
            OrderStatus.NEEDS_RECONCILIATION,
            ErrorName.VENDOR_OUTCOME_UNKNOWN.value,
            f"the order failed ({error}) and the vendor may or may not have reversed "
            f"{listed(doubtful)}",
            unanswered=tuple(unanswered),
        )
    if refused:
        named = [f"{k} ({items[k].get('reason') or 'no reason given'})" for k in refused]
        return CompensationOutcome(
            OrderStatus.COMPENSATION_FAILED,
            ErrorName.COMPENSATION_FAILED.value,
            f"the order failed ({error}: {cause}) and these effects are still applied: "
            f"{listed(named)}; once the cause is gone, retry the order to reverse them",
        )
    cancelled = error == ErrorName.ORDER_CANCELLED
    return CompensationOutcome(
        OrderStatus.CANCELLED if cancelled else OrderStatus.FAILED, error, cause
    )


def _code(item_key: str) -> str:
    return item_key.split("#", 1)[1]

"""Does every order's record say exactly what the vendor did? Item by item.

For each order and each of its items (points, each voucher, each reward), three accounts must
agree: the item's record in the orders table (what ``GET /orders/{ref}`` shows), the order's last
lifecycle event (what ``order.completed`` / ``order.failed`` / ``order.compensated`` / ... told
the world), and the vendor's ledger under that item's idempotency keys: ``<order>:<type>:<item>``
as the mediator sends it, with ``+<attempt>`` for an operator's re-run, and the ``<type>-reversal``
keys of a compensation. What the vendor did to an item *net* is its applications less its
reversals. The rules, per recorded item status:

* ``SUBMITTED`` and ``COMPENSATION_FAILED`` — applied once, net, and (``SUBMITTED``) under exactly
  the references the record keeps, those of its latest application (at least one, but for the
  points of an order that earned none: nothing to apply);
* ``COMPENSATED`` — applied and reversed as often: net zero;
* ``ERROR`` or ``PENDING`` (in an order that ended) — net zero;
* ``UNKNOWN`` — either: the record does not claim to know, and says so (counted, not wrong).

A ``FAILED`` or ``CANCELLED`` order that was compensated must be net zero at the vendor, item by
item. The last event must be the one the record's status announces, and list the same item
statuses as the record (an ``UNKNOWN`` there may have been settled since; an order too large
to list gives the counts); ``order.completed`` means every item was applied; ``order.rejected``
means nothing was.
Anything the vendor applied that no item of a known order accounts for — another order's key, a
reference nobody submitted, two effects for one item — is a disagreement too.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from fake_vendor import FakeVendor
from loyalty.contract import OrderEvent
from loyalty.naming import RERUN_SEPARATOR
from loyalty.order_status import POINTS_ITEM, TERMINAL_STATUSES, ItemStatus, OrderStatus

REVERSAL_SUFFIX = "-reversal"
"""``VendorRequestType``'s reversal types: ``sale-reversal``, ``voucher-reversal``, ..."""

ANNOUNCED_BY = {
    OrderStatus.COMPLETED.value: {OrderEvent.COMPLETED.value},
    OrderStatus.FAILED.value: {OrderEvent.FAILED.value, OrderEvent.COMPENSATED.value},
    OrderStatus.NEEDS_RECONCILIATION.value: {OrderEvent.NEEDS_RECONCILIATION.value},
    OrderStatus.REJECTED.value: {OrderEvent.REJECTED.value},
    OrderStatus.COMPENSATION_FAILED.value: {OrderEvent.COMPENSATION_FAILED.value},
    OrderStatus.CANCELLED.value: {OrderEvent.CANCELLED.value, OrderEvent.COMPENSATED.value},
}
"""The events each final status may be announced with (a FAILED order that was compensated:
``order.compensated``)."""
ENDING_EVENTS = frozenset().union(*ANNOUNCED_BY.values())
APPLIED_NET = frozenset({ItemStatus.SUBMITTED, ItemStatus.COMPENSATION_FAILED})
NET_ZERO = frozenset({OrderStatus.FAILED, OrderStatus.CANCELLED})
"""What a compensated order ends as: nothing of it applied, net."""


@dataclass
class TruthCheck:
    items: int = 0
    """Items checked."""
    unknown: int = 0
    """Items recorded UNKNOWN (honest, but an operator has to settle them)."""
    unknown_applied: int = 0
    """Of those, the ones the vendor had in fact applied (what "not applied" would have hidden)."""
    compensated: int = 0
    """FAILED orders whose applied effects were reversed (each checked net zero)."""
    disagreements: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.disagreements

    def orders_with_disagreements(self) -> set[str]:
        return {str(d["order_reference"]) for d in self.disagreements}

    def _disagree(self, reference: str, item: str | None, problem: str, **facts: Any) -> None:
        self.disagreements.append(
            {"order_reference": reference, "item": item, "problem": problem, **facts}
        )


def vendor_effects(vendor: FakeVendor) -> dict[str, list[str]]:
    """The vendor's references (transaction, redemption or reversal ids) under each idempotency
    key."""
    applied: dict[str, list[str]] = defaultdict(list)
    for entry in vendor.ledger():
        applied[entry.idempotency_key].append(entry.transaction_id)
    for redemption in vendor.redemptions():
        applied[redemption.idempotency_key].append(redemption.redemption_id)
    for reversal in vendor.reversals():
        applied[reversal.idempotency_key].append(reversal.reversal_id)
    return dict(applied)


@dataclass
class ItemEffects:
    """What the vendor did to one item, over every run of its order."""

    applied: list[tuple[int, str]] = field(default_factory=list)
    """(attempt, reference) of each application."""
    reversed: list[str] = field(default_factory=list)

    @property
    def net(self) -> int:
        return len(self.applied) - len(self.reversed)

    def latest(self) -> list[str]:
        """The references of the latest run's application(s)."""
        if not self.applied:
            return []
        last = max(attempt for attempt, _ in self.applied)
        return sorted(ref for attempt, ref in self.applied if attempt == last)


def item_of_key(key: str) -> tuple[str, str, bool, int] | None:
    """``(order, item, is_reversal, attempt)`` of a mediator idempotency key, or None."""
    parts = key.split(":", 2)
    if len(parts) != 3:
        return None
    reference, kind, code = parts
    attempt = 1
    base, separator, suffix = code.rpartition(RERUN_SEPARATOR)
    if separator and suffix.isdecimal():
        code, attempt = base, int(suffix)
    reversal = kind.endswith(REVERSAL_SUFFIX)
    kind = kind.removesuffix(REVERSAL_SUFFIX)
    if kind in ("sale", "return"):
        return reference, POINTS_ITEM, reversal, attempt
    return reference, f"{kind}#{code}", reversal, attempt


def effects_by_item(applied: dict[str, list[str]]) -> dict[tuple[str, str], ItemEffects]:
    effects: dict[tuple[str, str], ItemEffects] = defaultdict(ItemEffects)
    for key, references in applied.items():
        parsed = item_of_key(key)
        if parsed is None:
            continue
        reference, item, reversal, attempt = parsed
        found = effects[(reference, item)]
        if reversal:
            found.reversed.extend(references)
        else:
            found.applied.extend((attempt, r) for r in references)
    return dict(effects)


def item_idempotency_key(reference: str, order_type: str | None, item: str) -> str:
    """The key the mediator sends for an item in an order's first run
    (``vendor_mediator.mediation.idempotency_key``)."""
    if item == POINTS_ITEM:
        return f"{reference}:{order_type}:{POINTS_ITEM}"
    kind, _, code = item.partition("#")
    return f"{reference}:{kind}:{code}"


def last_ending_event(events: Iterable[dict[str, Any]]) -> dict[str, Any] | None:
    """The last ``order.*`` event that says how the order ended (events in delivery order)."""
    ending = [e for e in events if e.get("detail-type") in ENDING_EVENTS]
    return ending[-1] if ending else None


def check_truth(
    records: dict[str, dict[str, Any] | None],
    events: dict[str, list[dict[str, Any]]],
    applied: dict[str, list[str]],
) -> TruthCheck:
    """``records``: each submitted order's record (None if it was never stored); ``events``: each
    order's events, oldest first; ``applied``: the vendor's references by idempotency key
    (`vendor_effects`)."""
    check = TruthCheck()
    by_item = effects_by_item(applied)
    accounted: set[tuple[str, str]] = set()
    for reference, record in records.items():
        ending = last_ending_event(events.get(reference, []))
        items: dict[str, dict[str, Any]] = (record or {}).get("items", {})
        status = (record or {}).get("status")
        ended = status in TERMINAL_STATUSES
        nothing_to_credit = not (record or {}).get("points")
        for item, state in items.items():
            check.items += 1
            accounted.add((reference, item))
            may_be_empty = item == POINTS_ITEM and nothing_to_credit
            effects = by_item.get((reference, item), ItemEffects())
            _check_item(check, reference, item, state, effects, ended, may_be_empty)
        if status in NET_ZERO and (record or {}).get("compensation_ended_at"):
            check.compensated += 1
            for item in items:
                net = by_item.get((reference, item), ItemEffects()).net
                if net != 0:
                    check._disagree(reference, item, f"compensated, but net {net} at the vendor")
        if (
            record is not None
            and ended
            and (ending or {}).get("detail-type") not in ANNOUNCED_BY[str(status)]
        ):
            check._disagree(
                reference,
                None,
                f"the record says {status}, the last event was "
                f"{(ending or {}).get('detail-type', 'none')}",
            )
        _check_event(check, reference, items, ending)
    for (reference, item), effects in by_item.items():
        if (reference, item) not in accounted:
            check._disagree(
                reference,
                item,
                "the vendor applied an effect no order's record accounts for",
                vendor=[ref for _, ref in effects.applied] + effects.reversed,
            )
    return check


def _check_item(
    check: TruthCheck,
    reference: str,
    item: str,
    state: dict[str, Any],
    effects: ItemEffects,
    ended: bool,
    may_be_empty: bool,
) -> None:
    status = state.get("status")
    recorded = sorted(state.get("vendor_references") or [])
    net = effects.net
    if net > 1 or net < 0:
        check._disagree(
            reference,
            item,
            "applied more than once" if net > 1 else "reversed more often than applied",
            vendor=[ref for _, ref in effects.applied],
            reversed=effects.reversed,
        )
        return
    if status == ItemStatus.UNKNOWN:
        check.unknown += 1
        check.unknown_applied += net
        return
    if status == ItemStatus.SUBMITTED:
        if not recorded and not may_be_empty:
            check._disagree(reference, item, "recorded SUBMITTED without the vendor's reference")
        elif effects.latest() != recorded:
            check._disagree(
                reference,
                item,
                "recorded SUBMITTED, but the vendor's ledger differs",
                record=recorded,
                vendor=effects.latest(),
            )
        elif net == 0 and effects.applied:
            check._disagree(reference, item, "recorded SUBMITTED, but the vendor reversed it")
        return
    if status == ItemStatus.COMPENSATION_FAILED:
        if net != 1:
            check._disagree(reference, item, f"recorded {status}, but net {net} at the vendor")
        return
    if status == ItemStatus.COMPENSATED:
        if net != 0 or not effects.reversed:
            check._disagree(reference, item, f"recorded COMPENSATED, but net {net} at the vendor")
        return
    if status == ItemStatus.PENDING and not ended:
        return  # still on its way
    if net:
        check._disagree(
            reference,
            item,
            f"recorded {status}, but the vendor applied it",
            vendor=[ref for _, ref in effects.applied],
        )


def _check_event(
    check: TruthCheck,
    reference: str,
    items: dict[str, dict[str, Any]],
    ending: dict[str, Any] | None,
) -> None:
    if ending is None:
        return  # never started or still running: the record is all there is
    kind = ending["detail-type"]
    recorded = {item: state.get("status") for item, state in items.items()}
    if kind == OrderEvent.COMPLETED:
        wrong = {i: s for i, s in recorded.items() if s != ItemStatus.SUBMITTED}
        if wrong:
            check._disagree(reference, None, "order.completed, but items were not applied", **wrong)
    elif kind == OrderEvent.REJECTED:
        wrong = {i: s for i, s in recorded.items() if s == ItemStatus.SUBMITTED}
        if wrong:
            check._disagree(reference, None, "order.rejected, but items were applied", **wrong)
    elif "items_by_status" in ending["detail"]:  # too many to list: the counts
        counts: dict[str, int] = {}
        for status in recorded.values():
            counts[str(status)] = counts.get(str(status), 0) + 1
        said_counts = ending["detail"]["items_by_status"]
        unknown_then = said_counts.get(ItemStatus.UNKNOWN, 0)
        if unknown_then == 0 and said_counts != counts:
            check._disagree(reference, None, f"{kind} counted {said_counts}, the record {counts}")
    else:
        said = {i: s.get("status") for i, s in (ending["detail"].get("items") or {}).items()}
        for item in sorted(set(said) | set(recorded)):
            if said.get(item) == ItemStatus.UNKNOWN:
                continue  # "unknown" was true then, whatever was settled since
            if said.get(item) != recorded.get(item):
                check._disagree(
                    reference,
                    item,
                    f"{kind} said {said.get(item)}, the record says {recorded.get(item)}",
                )

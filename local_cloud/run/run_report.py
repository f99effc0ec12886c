"""What a local-cloud run did, as a record per order and totals (``--json PATH``), including
the vendor ledger check (the effects the vendor applied equal the expected effects of every order
that completed, and, for an order that did not complete, exactly the effects its record says were
applied) and the per-item truth check (`local_cloud.run.truth_check`: every item's record and the
order's last event agree with the vendor's ledger under the item's idempotency key). An order
with a disagreement counts as unexpected, and fails the run.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection
from dataclasses import asdict, dataclass, field
from typing import Any

from fake_vendor import FakeVendor
from local_cloud.cloud import LocalCloud, OrderOutcome
from local_cloud.run.order_mix import Effects, expected_effects
from local_cloud.run.sample_orders import SampleOrder
from local_cloud.run.truth_check import APPLIED_NET, TruthCheck, check_truth, vendor_effects
from loyalty.order_status import POINTS_ITEM


@dataclass(frozen=True)
class OrderRecord:
    order_reference: str
    description: str
    channel: str
    order_type: str | None
    status: str
    expected_status: str
    error: str | None
    expected_error: str | None
    duration_seconds: float | None
    state_transitions: int
    events: int
    lambda_invocations: float
    lambda_gb_seconds: float
    as_expected: bool


@dataclass
class LedgerCheck:
    """Totals of the completed orders' expected effects and of what the vendor applied."""

    expected: Counter[str] = field(default_factory=Counter)
    applied: Counter[str] = field(default_factory=Counter)
    mismatches: list[dict[str, Any]] = field(default_factory=list)
    """Orders whose vendor effects differ from what was expected of them."""

    @property
    def ok(self) -> bool:
        return not self.mismatches


def _totals(effects: Effects) -> Counter[str]:
    totals: Counter[str] = Counter()
    if effects.operation:
        totals[f"points_{effects.operation}ed"] += effects.points
        totals[f"{effects.operation}_operations"] += 1
    totals["vouchers"] += len(effects.vouchers)
    totals["rewards"] += len(effects.rewards)
    return totals


def _recorded(item: dict[str, Any]) -> Effects:
    """The effects an order's record says are applied (items SUBMITTED, or whose reversal
    failed)."""
    items = item.get("items", {})
    submitted = {k for k, v in items.items() if v.get("status") in APPLIED_NET}
    points_applied = POINTS_ITEM in submitted
    return Effects(
        points=int(item.get("points") or 0) if points_applied else 0,
        operation=("credit" if item.get("order_type") == "sale" else "deduct")
        if points_applied
        else None,
        vouchers=tuple(sorted(k.split("#", 1)[1] for k in submitted if k.startswith("voucher#"))),
        rewards=tuple(sorted(k.split("#", 1)[1] for k in submitted if k.startswith("reward#"))),
    )


def _applied_by_order(vendor: FakeVendor) -> dict[str, Effects]:
    """What the vendor applied, net, per order: points credited less points deducted (a
    compensated sale's credit and its reversal's deduct make none), and the redemptions that were
    not reversed. Anything applied twice shows as a different net."""
    balance: dict[str, int] = {}
    codes: dict[str, dict[str, list[str]]] = {}
    for entry in vendor.ledger():
        signed = entry.points if entry.operation == "credit" else -entry.points
        balance[entry.order_reference] = balance.get(entry.order_reference, 0) + signed
    for redemption in vendor.active_redemptions():
        kinds = codes.setdefault(redemption.order_reference, {"voucher": [], "reward": []})
        kinds[redemption.kind].append(redemption.code)
    applied: dict[str, Effects] = {}
    for reference in set(balance) | set(codes):
        net = balance.get(reference, 0)
        kinds = codes.get(reference, {"voucher": [], "reward": []})
        effects = Effects(
            points=abs(net),
            operation=("credit" if net > 0 else "deduct") if net else None,
            vouchers=tuple(sorted(kinds["voucher"])),
            rewards=tuple(sorted(kinds["reward"])),
        )
        if effects != Effects():
            applied[reference] = effects
    return applied


def check_ledger(
    cloud: LocalCloud,
    vendor: FakeVendor,
    samples: list[SampleOrder],
    outcomes: dict[str, OrderOutcome],
) -> LedgerCheck:
    check = LedgerCheck()
    applied = _applied_by_order(vendor)
    for effects in applied.values():
        check.applied.update(_totals(effects))
    for sample in samples:
        status = outcomes[sample.reference].status
        if status == "COMPLETED":
            expected = expected_effects(sample.order, cloud.points_rate)
            check.expected.update(_totals(expected))
        else:
            expected = _recorded(cloud.order_item(sample.reference) or {})
        got = applied.pop(sample.reference, Effects())
        if got != expected:
            check.mismatches.append(
                {
                    "order_reference": sample.reference,
                    "status": status,
                    "expected": asdict(expected),
                    "applied": asdict(got),
                }
            )
    for reference, got in applied.items():  # effects of orders this run did not submit
        check.mismatches.append(
            {"order_reference": reference, "expected": None, "applied": asdict(got)}
        )
    return check


def truth_of(cloud: LocalCloud, vendor: FakeVendor, samples: list[SampleOrder]) -> TruthCheck:
    """The per-item truth check of a run's orders."""
    events = cloud.events_by_order()
    return check_truth(
        {sample.reference: cloud.order_item(sample.reference) for sample in samples},
        {ref: [event for _, event in found] for ref, found in events.items()},
        vendor_effects(vendor),
    )


def order_records(
    cloud: LocalCloud,
    samples: list[SampleOrder],
    outcomes: dict[str, OrderOutcome],
    disagreeing: Collection[str] = (),
) -> list[OrderRecord]:
    timelines = cloud.timelines()
    records = []
    for sample in samples:
        outcome = outcomes[sample.reference]
        work = cloud.invocations.of(sample.reference)
        records.append(
            OrderRecord(
                order_reference=sample.reference,
                description=sample.description,
                channel=sample.channel,
                order_type=outcome.order_type,
                status=outcome.status,
                expected_status=sample.expected_status,
                error=outcome.error,
                expected_error=sample.expected_error,
                duration_seconds=outcome.duration_seconds,
                state_transitions=outcome.state_transitions,
                events=len(timelines.get(sample.reference, [])),
                lambda_invocations=round(work.invocations, 3),
                lambda_gb_seconds=round(work.gb_seconds, 6),
                as_expected=(outcome.status, outcome.error)
                == (sample.expected_status, sample.expected_error)
                and sample.reference not in disagreeing,
            )
        )
    return records


def report(
    cloud: LocalCloud,
    vendor: FakeVendor,
    samples: list[SampleOrder],
    outcomes: dict[str, OrderOutcome],
    *,
    elapsed_seconds: float,
    settings: dict[str, Any],
) -> dict[str, Any]:
    """The machine-readable report of a run."""
    truth = truth_of(cloud, vendor, samples)
    records = order_records(cloud, samples, outcomes, truth.orders_with_disagreements())
    ledger = check_ledger(cloud, vendor, samples, outcomes)
    dead = cloud.dead_letters()
    return {
        "settings": settings,
        "elapsed_seconds": round(elapsed_seconds, 3),
        "orders": [asdict(r) for r in records],
        "totals": {
            "orders": len(records),
            "by_status": dict(Counter(r.status for r in records)),
            "unexpected": sum(not r.as_expected for r in records),
            "not_terminal": sum(not outcomes[s.reference].terminal for s in samples),
            "vendor_ledger": {
                "ok": ledger.ok,
                "expected": dict(ledger.expected),
                "applied": dict(ledger.applied),
                "mismatches": ledger.mismatches,
            },
            "truth": {
                "ok": truth.ok,
                "items": truth.items,
                "unknown": truth.unknown,
                "unknown_applied_at_vendor": truth.unknown_applied,
                "disagreements": truth.disagreements,
            },
            "vendor_faults_injected": vendor.stats().faults_injected,
            "messages_in_queues": {k: v for k, v in cloud.buffered_messages().items() if v},
            "messages_in_dead_letter_queues": {k: len(v) for k, v in dead.items()},
            "requests_parked_for_reconciliation": cloud.reconciliation_backlog(),
            "iam": {
                "authorisations": cloud.iam.checked.total() if cloud.iam else 0,
                "refused": list(cloud.iam.denials) if cloud.iam else [],
            },
        },
    }

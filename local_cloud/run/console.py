"""What the run command prints: one line per order as it ends, the summary, an order's timeline."""

from __future__ import annotations

from typing import Any

from local_cloud.cloud import LocalCloud, OrderOutcome
from local_cloud.run.sample_orders import SampleOrder

DECISION_NOTES = {"approve": "(approved)", "reject": "(rejected)", "cancel": "(cancelled)"}
COLUMNS = (
    "{ref:<20} {via:<4} {type:<7} {status:<10} {error:<21} {duration:>8} {transitions:>11}  {note}"
)


def order_line(outcome: OrderOutcome, sample: SampleOrder, expected_ok: bool) -> str:
    duration = f"{outcome.duration_seconds:.2f}s" if outcome.duration_seconds is not None else "-"
    note = "<- UNEXPECTED" if not expected_ok else DECISION_NOTES.get(sample.decision or "", "")
    if expected_ok and any(i.get("status") == "COMPENSATED" for i in outcome.items.values()):
        note = f"{note} (compensated)".strip()
    return COLUMNS.format(  # rstrip: no trailing blanks when there is no note
        ref=outcome.order_reference,
        via=sample.channel,
        type=outcome.order_type or "-",
        status=outcome.status,
        error=outcome.error or "-",
        duration=duration,
        transitions=outcome.state_transitions,
        note=note,
    ).rstrip()


def header() -> str:
    return COLUMNS.format(
        ref="ORDER",
        via="VIA",
        type="TYPE",
        status="STATUS",
        error="ERROR",
        duration="DURATION",
        transitions="TRANSITIONS",
        note="",
    ).rstrip()


def print_summary(full: dict[str, Any], count: int, elapsed: float) -> None:
    totals = full["totals"]
    by_status = ", ".join(f"{n} {status}" for status, n in sorted(totals["by_status"].items()))
    print(
        f"\nSummary: {by_status}, {totals['not_terminal']} not terminal, "
        f"{totals['unexpected']} unexpected (of {count} orders, {elapsed:.1f}s in all)"
    )
    ledger = totals["vendor_ledger"]
    applied = ledger["applied"]
    operations = applied.get("credit_operations", 0) + applied.get("deduct_operations", 0)
    print(
        f"Vendor ledger: {operations} points operations (+{applied.get('points_credited', 0)} / "
        f"-{applied.get('points_deducted', 0)}), {applied.get('vouchers', 0)} vouchers and "
        f"{applied.get('rewards', 0)} rewards redeemed: "
        + (
            "as the orders expect"
            if ledger["ok"]
            else f"{len(ledger['mismatches'])} orders DIFFER (see --json)"
        )
    )
    truth = totals["truth"]
    unknown = (
        f", {truth['unknown']} unknown (parked for reconciliation)" if truth["unknown"] else ""
    )
    print(
        f"Item records: {truth['items']} items "
        + (
            f"agree with the vendor's ledger{unknown}"
            if truth["ok"]
            else f"checked, {len(truth['disagreements'])} DISAGREE with the vendor (see --json)"
        )
    )
    injected = totals["vendor_faults_injected"]
    if injected:
        faults = ", ".join(f"{n} {kind}" for kind, n in sorted(injected.items()))
        print(f"Vendor faults injected: {faults}")
    queued = sum(totals["messages_in_queues"].values())
    dead = sum(totals["messages_in_dead_letter_queues"].values())
    parked = totals["requests_parked_for_reconciliation"]
    print(
        f"Queues: {queued} messages left; dead-letter queues: {dead} messages; "
        f"reconciliation queue: {parked} requests"
    )
    iam = totals["iam"]
    print(
        f"IAM: {iam['authorisations']} authorisations of the functions' calls against their "
        f"roles, {len(iam['refused'])} refused"
    )
    for refusal in iam["refused"][:5]:
        print(f"  {refusal}")


def print_timeline(cloud: LocalCloud, reference: str) -> None:
    entries = cloud.timeline(reference)
    print(f"\nTimeline of {reference}: {len(entries)} events in the event log")
    if not entries:
        return
    start = previous = entries[0].timestamp_ms
    for entry in entries:
        print(
            f"  {entry.timestamp_ms - start:>7} ms (+{entry.timestamp_ms - previous:>5})  "
            f"{entry.source:<32} {entry.detail_type:<27} {entry.what}".rstrip()
        )
        previous = entry.timestamp_ms

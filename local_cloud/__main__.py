"""``python -m local_cloud run``: the system end to end on the local cloud (what `make run` does).

Synthesises the app, deploys it into moto, starts the fake vendor and the Order API on
127.0.0.1, submits the sample orders (through the API, or onto the bus as a till would), approves
or rejects the ones that wait for a person through the API, and prints one line per order as it
ends, then a summary. Exits 1 if any order did not reach a terminal state or ended differently
than expected. With ``--serve`` the local cloud stays up afterwards, for curl.
"""

from __future__ import annotations

import argparse
import sys
import time

from local_cloud.api_client import ApiClient
from local_cloud.cloud import LocalCloud, OrderOutcome
from local_cloud.fake_vendor import FakeVendor
from local_cloud.sample_orders import SampleOrder, invalid_api_order, sample_orders, seed_vendor

DECISION_NOTES = {"approve": "(approved)", "reject": "(rejected)"}
COLUMNS = (
    "{ref:<20} {via:<4} {type:<7} {status:<10} {error:<21} {duration:>8} {transitions:>5}  {note}"
)


def _line(outcome: OrderOutcome, sample: SampleOrder, expected_ok: bool) -> str:
    duration = f"{outcome.duration_seconds:.2f}s" if outcome.duration_seconds is not None else "-"
    note = "<- UNEXPECTED" if not expected_ok else DECISION_NOTES.get(sample.decision or "", "")
    return COLUMNS.format(
        ref=outcome.order_reference,
        via=sample.channel,
        type=outcome.order_type or "-",
        status=outcome.status,
        error=outcome.error or "-",
        duration=duration,
        transitions=outcome.state_transitions,
        note=note,
    )


def _submit(cloud: LocalCloud, api: ApiClient, samples: list[SampleOrder]) -> None:
    for sample in samples:
        if sample.channel == "bus":
            cloud.submit_order(sample.order)
            continue
        response = api.submit(sample.order)
        if response.status != 202:
            raise SystemExit(f"POST /orders {sample.reference}: {response.status} {response.body}")
    refused = api.submit(invalid_api_order())
    problems = "; ".join(f"{e['field']}: {e['message']}" for e in refused.body.get("errors", []))
    print(f"POST /orders with an invalid body -> {refused.status} ({problems})\n", flush=True)


def run(args: argparse.Namespace) -> int:
    started = time.monotonic()
    print("Local cloud: synthesising the app and deploying it into moto ...", flush=True)
    with FakeVendor() as vendor, LocalCloud(vendor=vendor) as cloud:
        seed_vendor(vendor)
        api = ApiClient(cloud.api_url)
        print(
            f"Deployed {len(cloud.stacks)} stacks ({len(cloud.functions)} Lambda functions run "
            f"in-process) in {time.monotonic() - started:.1f}s\n"
            f"Order API:   {cloud.api_url}\nFake vendor: {vendor.base_url}",
            flush=True,
        )
        samples = sample_orders()
        print(f"Submitting {len(samples)} orders ...", flush=True)
        _submit(cloud, api, samples)
        print(
            COLUMNS.format(
                ref="ORDER",
                via="VIA",
                type="TYPE",
                status="STATUS",
                error="ERROR",
                duration="DURATION",
                transitions="STEPS",
                note="",
            )
        )
        pending = {s.reference: s for s in samples}
        decided: set[str] = set()
        unexpected = 0
        by_status: dict[str, int] = {}
        deadline = time.monotonic() + args.timeout
        while pending and time.monotonic() < deadline:
            for reference, sample in list(pending.items()):
                outcome = cloud.order_outcome(reference)
                if (
                    outcome.status == "AWAITING_APPROVAL"
                    and sample.decision
                    and reference not in decided
                ):
                    api.decide(reference, sample.decision, comment="checked by make run")
                    decided.add(reference)
                if not outcome.terminal:
                    continue
                ok = (outcome.status, outcome.error) == (
                    sample.expected_status,
                    sample.expected_error,
                )
                unexpected += not ok
                by_status[outcome.status] = by_status.get(outcome.status, 0) + 1
                print(_line(outcome, sample, ok), flush=True)
                del pending[reference]
            time.sleep(0.05)
        for reference, sample in pending.items():
            print(_line(cloud.order_outcome(reference), sample, False), flush=True)
        cloud.wait_idle(timeout=10)
        dead = cloud.dead_letters()
        ledger = vendor.ledger()
        redemptions = vendor.redemptions()

        print()
        print(
            "Summary: "
            + ", ".join(f"{count} {status}" for status, count in sorted(by_status.items()))
            + f", {len(pending)} not terminal, {unexpected} unexpected "
            f"(of {len(samples)} orders, {time.monotonic() - started:.1f}s in all)"
        )
        credited = sum(e.points for e in ledger if e.operation == "credit")
        deducted = sum(e.points for e in ledger if e.operation == "deduct")
        print(
            f"Vendor ledger: {len(ledger)} points operations (+{credited} / -{deducted}), "
            f"{sum(r.kind == 'voucher' for r in redemptions)} vouchers and "
            f"{sum(r.kind == 'reward' for r in redemptions)} rewards redeemed"
        )
        print(f"Dead-letter queues: {sum(len(m) for m in dead.values())} messages")
        print(f"Function logs: {cloud.workdir / 'logs'}")
        if args.timeline:
            _print_timeline(cloud, args.timeline)
        if args.serve:
            _serve(cloud)
    if pending or unexpected:
        print("FAILED: some orders did not end as expected", file=sys.stderr)
        return 1
    return 0


def _print_timeline(cloud: LocalCloud, reference: str) -> None:
    entries = cloud.timeline(reference)
    print(f"\nTimeline of {reference}: {len(entries)} events in the event log")
    if not entries:
        return
    start = previous = entries[0].timestamp_ms
    for entry in entries:
        print(
            f"  {entry.timestamp_ms - start:>7} ms (+{entry.timestamp_ms - previous:>5})  "
            f"{entry.source:<32} {entry.detail_type:<27} {entry.what}"
        )
        previous = entry.timestamp_ms


def _serve(cloud: LocalCloud) -> None:
    print(
        f"\nServing the Order API at {cloud.api_url} (Ctrl-C to stop). For example:\n"
        f"  curl -s {cloud.api_url}/orders/M101-S76-OP10-T65\n"
        f"  curl -s {cloud.api_url}/orders/M106-S76-OP04-R03/actions",
        flush=True,
    )
    try:
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        print("stopped")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local_cloud", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run_parser = commands.add_parser("run", help="run the sample orders end to end")
    run_parser.add_argument(
        "--timeout", type=float, default=120, help="seconds to wait for all orders"
    )
    run_parser.add_argument(
        "--serve", action="store_true", help="keep the local cloud up afterwards"
    )
    run_parser.add_argument(
        "--timeline",
        default="M101-S76-OP10-T65",
        metavar="ORDER_REFERENCE",
        help="print this order's events from the event log afterwards ('' for none)",
    )
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())

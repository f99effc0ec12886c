"""``python -m local_cloud run``: the system end to end on the local cloud (what `make run` does).

Synthesises the app, deploys it into moto, starts the fake vendor on 127.0.0.1, pushes the sample
orders through the real state machine, rules and handlers, prints one line per order as it ends and
a summary. Exits 1 if any order did not reach a terminal state or ended differently than expected.
"""

from __future__ import annotations

import argparse
import sys
import time

from local_cloud.cloud import LocalCloud, OrderOutcome
from local_cloud.fake_vendor import FakeVendor
from local_cloud.sample_orders import sample_orders, seed_vendor

COLUMNS = "{ref:<20} {type:<7} {status:<10} {error:<22} {duration:>8} {transitions:>11}  {note}"


def _line(outcome: OrderOutcome, expected_ok: bool) -> str:
    duration = f"{outcome.duration_seconds:.2f}s" if outcome.duration_seconds is not None else "-"
    return COLUMNS.format(
        ref=outcome.order_reference,
        type=outcome.order_type or "-",
        status=outcome.status,
        error=outcome.error or "-",
        duration=duration,
        transitions=outcome.state_transitions,
        note="" if expected_ok else "<- UNEXPECTED",
    )


def run(args: argparse.Namespace) -> int:
    started = time.monotonic()
    print("Local cloud: synthesising the app and deploying it into moto ...", flush=True)
    with FakeVendor() as vendor, LocalCloud(vendor=vendor) as cloud:
        seed_vendor(vendor)
        functions = len(cloud.functions)
        print(
            f"Deployed {len(cloud.stacks)} stacks ({functions} Lambda functions run in-process) "
            f"in {time.monotonic() - started:.1f}s; fake vendor at {vendor.base_url}",
            flush=True,
        )
        samples = sample_orders()
        print(
            f"Submitting {len(samples)} orders (order.received on the default bus) ...\n",
            flush=True,
        )
        for sample in samples:
            cloud.submit_order(sample.order)
        print(
            COLUMNS.format(
                ref="ORDER",
                type="TYPE",
                status="STATUS",
                error="ERROR",
                duration="DURATION",
                transitions="TRANSITIONS",
                note="",
            )
        )
        pending = {s.reference: s for s in samples}
        outcomes: dict[str, OrderOutcome] = {}
        unexpected = 0
        deadline = time.monotonic() + args.timeout
        while pending and time.monotonic() < deadline:
            for reference, sample in list(pending.items()):
                outcome = cloud.order_outcome(reference)
                if not outcome.terminal:
                    continue
                ok = (
                    outcome.status == sample.expected_status
                    and (outcome.error or None) == sample.expected_error
                )
                unexpected += not ok
                print(_line(outcome, ok), flush=True)
                outcomes[reference] = outcome
                del pending[reference]
            time.sleep(0.05)
        for reference in pending:
            outcome = cloud.order_outcome(reference)
            print(_line(outcome, False), flush=True)
        cloud.wait_idle(timeout=10)
        dead = cloud.dead_letters()
        ledger = vendor.ledger()
        redemptions = vendor.redemptions()

    by_status: dict[str, int] = {}
    for outcome in outcomes.values():
        by_status[outcome.status] = by_status.get(outcome.status, 0) + 1
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
    if pending or unexpected:
        print("FAILED: some orders did not end as expected", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local_cloud", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run_parser = commands.add_parser("run", help="run the sample orders end to end")
    run_parser.add_argument(
        "--timeout", type=float, default=120, help="seconds to wait for all orders"
    )
    args = parser.parse_args(argv)
    return run(args)


if __name__ == "__main__":
    sys.exit(main())

"""What one order costs: every billable unit it uses, counted on the local cloud, priced with
`bench.prices` into dollars per 1,000,000 orders, beside the naive design the seeds show.

    python -m bench.cost [--repeat 3]

Each reference order (a sale with 2 vouchers and 1 reward; a return; a return that waits for a
person and is approved) runs alone, `--repeat` times, and everything in its window is counted:
state transitions from the execution history; Step Finisher executions and their duration;
events from the event log (count and bytes); Lambda invocations and duration per function (its
configured memory); DynamoDB and SQS requests made by the handlers and by the SQS event-source
pollers (from the requests moto served); Order API requests. Nothing is estimated by hand except
the naive design, which is *derived from the same counts* (see `naive`).

Local durations are in-process Python on this machine, not Lambda's (no cold starts, no network):
read the duration-based lines as a lower bound.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter

from bench import prices
from bench.naive import naive
from bench.reference_orders import seed_codes, seed_members
from bench.request_counter import RequestCounter
from bench.usage import OrderUsage
from bench.usage_measurement import measure, reference_orders
from fake_vendor import FakeVendor
from local_cloud.cloud import LocalCloud
from local_cloud.run.synth import synthesise


def _per_million(usage: OrderUsage) -> dict[str, float]:
    return {service: cost * 1_000_000 for service, cost in usage.dollars().items()}


def _average(runs: list[OrderUsage]) -> OrderUsage:
    first = runs[0]
    n = len(runs)
    total = Counter[str]()
    for run in runs:
        total.update(run.lambda_invocations)
    return OrderUsage(
        name=first.name,
        status="/".join(sorted({r.status for r in runs})),
        state_transitions=round(sum(r.state_transitions for r in runs) / n),
        express_requests=round(sum(r.express_requests for r in runs) / n),
        express_billed_gb_seconds=sum(r.express_billed_gb_seconds for r in runs) / n,
        events=round(sum(r.events for r in runs) / n),
        event_bytes=round(sum(r.event_bytes for r in runs) / n),
        archive_bytes=round(sum(r.archive_bytes for r in runs) / n),
        lambda_invocations=Counter({k: round(v / n) for k, v in total.items()}),
        lambda_gb_seconds=sum(r.lambda_gb_seconds for r in runs) / n,
        dynamodb_read_units=round(sum(r.dynamodb_read_units for r in runs) / n),
        dynamodb_write_units=round(sum(r.dynamodb_write_units for r in runs) / n),
        sqs_requests=round(sum(r.sqs_requests for r in runs) / n),
        api_requests=first.api_requests,
        log_bytes=round(sum(r.log_bytes for r in runs) / n),
        waiting_tasks=first.waiting_tasks,
    )


def print_report(usages: list[OrderUsage]) -> None:
    print("\nUnits per order (average of the runs), counted on the local cloud")
    rows = [
        ("final status", lambda u: u.status),
        ("Standard state transitions", lambda u: u.state_transitions),
        ("  of which waiting tasks", lambda u: u.waiting_tasks),
        ("Express requests (Step Finisher)", lambda u: u.express_requests),
        ("Express billed GB-s", lambda u: f"{u.express_billed_gb_seconds:.4f}"),
        ("events put (custom events)", lambda u: u.events),
        ("event bytes logged / archived", lambda u: f"{u.event_bytes} / {u.archive_bytes}"),
        ("Lambda invocations", lambda u: sum(u.lambda_invocations.values())),
        ("Lambda GB-s (local durations)", lambda u: f"{u.lambda_gb_seconds:.4f}"),
        (
            "DynamoDB read / write units",
            lambda u: f"{u.dynamodb_read_units} / {u.dynamodb_write_units}",
        ),
        ("SQS requests", lambda u: u.sqs_requests),
        ("API Gateway requests", lambda u: u.api_requests),
    ]
    width = 28
    print(f"  {'':<34}" + "".join(f"{u.name:>{width}}" for u in usages))
    for label, value in rows:
        print(f"  {label:<34}" + "".join(f"{value(u)!s:>{width}}" for u in usages))
    print("  Lambda invocations by function:")
    for usage in usages:
        print(
            f"    {usage.name}: "
            + ", ".join(f"{k} {v}" for k, v in sorted(usage.lambda_invocations.items()))
        )

    print(
        f"\nDollars per 1,000,000 orders ({prices.REGION} list prices as of "
        f"{prices.PRICES_AS_OF}, bench/prices.py; naive designs derived from the same counts)"
    )
    for usage in usages:
        ours = _per_million(usage)
        plain = _per_million(naive(usage, status_states=False))
        with_status = _per_million(naive(usage, status_states=True))
        print(f"\n  {usage.name}")
        print(f"    {'service':<32}{'this design':>13}{'naive: invoke':>15}{'+ status states':>17}")
        for service in ours:
            print(
                f"    {service:<32}{ours[service]:>13.2f}{plain[service]:>15.2f}"
                f"{with_status[service]:>17.2f}"
            )
        totals = (sum(ours.values()), sum(plain.values()), sum(with_status.values()))
        print(f"    {'total':<32}{totals[0]:>13.2f}{totals[1]:>15.2f}{totals[2]:>17.2f}")
        print(
            f"    Standard transitions: {usage.state_transitions} here, "
            f"{naive(usage, status_states=False).state_transitions} naive, "
            f"{naive(usage, status_states=True).state_transitions} with status states"
        )


def run(args: argparse.Namespace) -> int:
    print("Synthesising and deploying ...", flush=True)
    with FakeVendor() as vendor, LocalCloud(synthesise(), vendor=vendor) as cloud:
        counter = RequestCounter()
        counter.install(cloud)
        api = cloud.api()
        seed_members(vendor)
        results: dict[str, list[OrderUsage]] = {}
        for run_index in range(args.repeat):
            for name, order, decision in reference_orders(run_index):
                seed_codes(vendor, order)
                usage = measure(cloud, api, counter, name, order, decision)
                results.setdefault(name, []).append(usage)
                print(
                    f"  {order['order_reference']:<18} {usage.status:<10} "
                    f"{usage.state_transitions} transitions",
                    flush=True,
                )
    print_report([_average(runs) for runs in results.values()])
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cost", description=__doc__)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each reference order")
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())

"""A burst of orders above AWS's API quotas (scaled down) on the local cloud: does every order
still end as expected, with nothing lost and nothing applied twice?

    python -m bench.throttled [--orders 100] [--profile aws|tight] [--scale 0.02] [--rate 1.0]

The local cloud gets token buckets for the APIs it can throttle (``bench.quotas``, those with a
``throttle``), and ``--orders`` generated orders (``local_cloud.run.order_mix``: sales, vouchers,
returns, approvals, rejections, invalid orders) are submitted through the Order API at once.

* ``--profile aws``: each bucket is AWS's default times ``--scale`` (size and refill), so the
  quotas keep AWS's ratios: what binds first on AWS binds first here.
* ``--profile tight``: each bucket refills at ``--rate`` orders per second's worth of a sale's
  calls of that API and holds one second of it, so every throttled API binds at about the same
  order rate and every caller meets its throttle in one run (not AWS's ratios).

It reports the buckets, every API's calls and refusals, the transitions that waited, how the
refusals were met (the router's later deliveries, state machine retries, Lambda retries, answers
lost and re-asked after a heartbeat, Step Finisher runs that failed, dead letters), each order's
outcome against the one it must have, the vendor's ledger against the orders, and the per-item
truth check (``local_cloud.run.truth_check``). It stops by itself after ``--timeout`` seconds;
Lambda's and the steps' timings are AWS's (a minute before Lambda's first retry).
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from bench import quotas
from bench.capacity import PER_ORDER
from fake_vendor import FakeVendor
from local_cloud.cloud import LocalCloud
from local_cloud.run.order_mix import DEFAULT_MIX, generate_orders, seed_vendor_for
from local_cloud.run.run_report import report as run_report
from local_cloud.run.runner import RunResult, run_orders
from local_cloud.run.synth import synthesise
from local_cloud.runtime import throttling
from local_cloud.runtime.throttling import BucketSpec

SALE = PER_ORDER["sale, 2 vouchers, 1 reward"]
SALE_UNITS = {quota.throttle: SALE[quota.unit] for quota in quotas.QUOTAS if quota.throttle}


def buckets(profile: str, scale: float, rate: float) -> dict[str, BucketSpec]:
    found: dict[str, BucketSpec] = {}
    for quota in quotas.QUOTAS:
        if quota.throttle is None:
            continue
        if profile == "aws":
            found[quota.throttle] = BucketSpec(quota.burst or quota.rate, quota.rate).scaled(scale)
        else:
            per_second = rate * SALE_UNITS[quota.throttle]
            found[quota.throttle] = BucketSpec(max(1.0, per_second), per_second)
    return found


def recoveries(cloud: LocalCloud, references: list[str]) -> Counter[str]:
    """How the orders' executions met refusals: from their histories, the Step Finisher's
    executions, the functions' retries and the dead-letter queues."""
    found: Counter[str] = Counter()
    for reference in references:
        try:
            history = cloud.execution_history(cloud.current_execution_arn(reference))
        except ClientError:
            found["orders whose execution never started"] += 1
            continue
        for event in history:
            if event["type"] == "TaskFailed":
                error = event["taskFailedEventDetails"].get("error", "")
                if "Throttling" in error or error.startswith("EventBridge."):
                    found[f"order task failed with {error} (retried or caught)"] += 1
            elif event["type"] == "TaskTimedOut":
                found["order task timed out (no answer: re-put after its heartbeat)"] += 1
    sfn = cloud.client("stepfunctions")
    finisher = cloud.output("StepFinisherArn")
    for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=finisher):
        for execution in page["executions"]:
            found[f"Step Finisher runs {execution['status']}"] += 1
    for function in cloud.functions.values():
        found["Lambda asynchronous retries"] += function.stats.async_retries
        found["Lambda events given up (to the on-failure destination)"] += (
            function.stats.async_failures
        )
    found["state machine starts delivered later by EventBridge"] = cloud.throttled_deliveries
    sqs = cloud.client("sqs")
    for queue, url in cloud.queues(dead_letter=True):  # all of them (a peek shows ten at most)
        attributes = sqs.get_queue_attributes(
            QueueUrl=url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        found[f"dead letters in {queue}"] += sum(int(n) for n in attributes.values())
    return +found


def print_report(
    cloud: LocalCloud,
    specs: dict[str, BucketSpec],
    result: RunResult,
    summary: dict[str, Any],
    found: Counter[str],
) -> None:
    assert cloud.throttler is not None
    counted = cloud.throttler.snapshot()
    print("\nBuckets (size / refill per second), calls (HTTP attempts) and refusals")
    for api in (*throttling.REFUSABLE, throttling.STATE_TRANSITION):
        spec = specs.get(api)
        bucket = f"{spec.size:,.0f} / {spec.refill_per_second:,.2f}" if spec else "none"
        refused = counted["throttled"].get(api, 0)
        verb = "waited" if api == throttling.STATE_TRANSITION else "refused"
        print(
            f"  {api:<28} {bucket:>16}  {counted['calls'].get(api, 0):>6} calls"
            f"  {refused:>6} {verb}"
        )
    print(f"  transitions waited {counted['transition_wait_seconds']:,.1f} s in all")
    print("\nHow the refusals were met")
    for what, n in sorted(found.items()):
        print(f"  {what:<66} {n:>6}")
    totals = summary["totals"]
    print(f"\nOrders ({result.elapsed_seconds:.0f} s)")
    print(f"  by status: {dict(sorted(totals['by_status'].items()))}")
    print(f"  not as expected: {totals['unexpected']}, not ended: {totals['not_terminal']}")
    for order in summary["orders"]:
        if not order["as_expected"]:
            print(
                f"    {order['order_reference']} {order['description']}: {order['status']} "
                f"{order['error'] or ''} (expected {order['expected_status']} "
                f"{order['expected_error'] or ''})".rstrip()
            )
    ledger, truth = totals["vendor_ledger"], totals["truth"]
    print(f"  vendor ledger matches the orders: {ledger['ok']} ({len(ledger['mismatches'])} off)")
    print(
        f"  truth check: {'ok' if truth['ok'] else 'DISAGREES'} ({truth['items']} items, "
        f"{len(truth['disagreements'])} disagreements, {truth['unknown']} unknown)"
    )
    for disagreement in truth["disagreements"][:10]:
        print(f"    {disagreement}")
    print(f"  messages left in queues: {totals['messages_in_queues']}")


def run(args: argparse.Namespace) -> int:
    specs = buckets(args.profile, args.scale, args.rate)
    samples = generate_orders(args.orders, args.mix, seed=args.seed)
    print(
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.machine()}, "
        f"{len(samples)} orders at once, profile {args.profile} "
        + (f"(scale {args.scale:g})" if args.profile == "aws" else f"(rate {args.rate:g}/s)"),
        flush=True,
    )
    with FakeVendor() as vendor, LocalCloud(synthesise(), vendor=vendor, throttling=specs) as cloud:
        seed_vendor_for(vendor, samples)
        result = run_orders(cloud, cloud.api(), samples, timeout=args.timeout)
        cloud.wait_idle(timeout=30)
        summary = run_report(
            cloud,
            vendor,
            samples,
            result.outcomes,
            elapsed_seconds=result.elapsed_seconds,
            settings={"profile": args.profile, "scale": args.scale, "rate": args.rate},
        )
        found = recoveries(cloud, [s.reference for s in samples])
        print_report(cloud, specs, result, summary, found)
    totals = summary["totals"]
    good = (
        not totals["unexpected"]
        and not totals["not_terminal"]
        and totals["vendor_ledger"]["ok"]
        and totals["truth"]["ok"]
    )
    print("\nEvery order ended as expected, nothing lost, nothing applied twice: " + str(good))
    return 0 if good else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.throttled", description=__doc__)
    parser.add_argument("--orders", type=int, default=100)
    parser.add_argument("--profile", choices=("aws", "tight"), default="aws")
    parser.add_argument("--scale", type=float, default=1 / 50, help="aws: times AWS's quotas")
    parser.add_argument("--rate", type=float, default=1.0, help="tight: orders/s each API allows")
    parser.add_argument("--mix", default=DEFAULT_MIX)
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--timeout", type=float, default=420, help="seconds before giving up")
    started = time.monotonic()
    code = run(parser.parse_args(argv))
    print(f"({time.monotonic() - started:.0f} s in all)")
    return code


if __name__ == "__main__":
    sys.exit(main())

"""Which quota binds first, at how many orders per second, and what to raise for 10x and 100x.

    python -m bench.capacity [--lambda-seconds 0.2]   # the tables, from the counts below
    python -m bench.capacity --measure                # count them again on the local cloud

Each reference order (``bench.cost``'s three) uses so many units of each quota (``PER_ORDER``:
calls of each throttled API, transitions, events delivered, Lambda invocations, DynamoDB request
units, vendor calls); a quota of ``rate`` units per second then allows ``rate / units`` orders per
second, per account and Region, sustained (bursts ride on the buckets' sizes). The quotas are
AWS's defaults in us-east-1 with their sources (``bench.quotas``), plus this project's own two
limits: the Order API's stage throttle and the vendor's quota, which is not AWS's.

Lambda concurrency is the one quota counted in seconds: an order holds ``invocations x duration``
of it. Local durations are in-process Python (a lower bound), so the duration per invocation is
an assumption (``--lambda-seconds``), not a measurement.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections import Counter
from typing import Any

from bench import quotas
from bench.quotas import Quota

COUNTED = "2026-12-01, python -m bench.capacity --measure (one run of each order, alone)"
PER_ORDER: dict[str, dict[str, float]] = {
    "sale, 2 vouchers, 1 reward": {
        "transitions": 15,
        "start_standard": 1,
        "start_express": 6,
        "send_task_success": 10,
        "put_events": 21,
        "target_invocations": 43,
        "lambda_invocations": 15,
        "dynamodb_write_units": 39,
        "dynamodb_read_units": 6,
        "api_requests": 1,
        "api_submissions": 1,
        "sqs_requests": 13,
        "vendor_calls": 4,
    },
    "return": {
        "transitions": 12,
        "start_standard": 1,
        "start_express": 6,
        "send_task_success": 7,
        "put_events": 15,
        "target_invocations": 31,
        "lambda_invocations": 10,
        "dynamodb_write_units": 17,
        "dynamodb_read_units": 3,
        "api_requests": 1,
        "api_submissions": 1,
        "sqs_requests": 3,
        "vendor_calls": 1,
    },
    "return awaiting approval": {
        "transitions": 13,
        "start_standard": 1,
        "start_express": 6,
        "send_task_success": 8,
        "put_events": 16,
        "target_invocations": 32,
        "lambda_invocations": 12,
        "dynamodb_write_units": 25,
        "dynamodb_read_units": 5,
        "api_requests": 2,
        "api_submissions": 1,
        "sqs_requests": 3,
        "vendor_calls": 1,
    },
}
"""Units each reference order uses (``--measure`` counts them; DynamoDB, SQS and Lambda as
``bench.cost`` does). The mediator takes a sale's four vendor requests in two to four
invocations, as they arrive (14-16 invocations, 12-15 SQS requests): 15 and 13 are kept."""

HOT_PARTITION = Quota(
    "DynamoDB one partition: the mediator's circuit item",
    "vendor_calls",
    1_000,
    None,
    "no: a design change (shard the item)",
    quotas.DDB_PARTITIONS,
    note="Every vendor call counts itself in one item (resilience.CircuitBreaker._count) and "
    "in one quota item per second (RateLimiter.acquire): 1,000 WRU/s per partition caps the "
    "vendor calls of one account at about 1,000/s, whatever the table's quota.",
)
SCALES = (10, 100)


def units(order: dict[str, float], lambda_seconds: float) -> dict[str, float]:
    return {**order, "lambda_seconds": order["lambda_invocations"] * lambda_seconds}


def orders_per_second(quota: Quota, used: dict[str, float]) -> float:
    per_order = used.get(quota.unit, 0)
    return math.inf if per_order == 0 else quota.rate / per_order


def limits() -> tuple[Quota, ...]:
    return (*quotas.QUOTAS, HOT_PARTITION, *quotas.PROJECT_LIMITS)


def is_aws(quota: Quota) -> bool:
    return quota not in quotas.PROJECT_LIMITS


def _number(value: float) -> str:
    if math.isinf(value):
        return "unlimited"
    return f"{value:,.0f}" if value >= 100 else f"{value:,.1f}"


def print_orders(lambda_seconds: float) -> None:
    for name, order in PER_ORDER.items():
        used = units(order, lambda_seconds)
        rows = sorted(limits(), key=lambda q: orders_per_second(q, used))
        first_aws = next(q for q in rows if is_aws(q))
        print(f"\n  {name}")
        print(f"    {'quota':<56}{'per order':>10}{'quota /s':>11}{'orders/s':>11}")
        for quota in rows:
            mark = " <- binds first" if quota is rows[0] else ""
            if quota is first_aws and quota is not rows[0]:
                mark = " <- first AWS quota"
            print(
                f"    {quota.name:<56}{_number(used.get(quota.unit, 0)):>10}"
                f"{_number(quota.rate):>11}{_number(orders_per_second(quota, used)):>11}{mark}"
            )


def print_scaling(lambda_seconds: float) -> None:
    name = next(iter(PER_ORDER))
    used = units(PER_ORDER[name], lambda_seconds)
    base = min(orders_per_second(q, used) for q in limits() if is_aws(q))
    print(f"\nWhat a {name} needs at 10x and 100x the default quotas' {base:,.0f} orders/s")
    for scale in SCALES:
        target = base * scale
        print(f"\n  {scale}x: {target:,.0f} orders/s")
        for quota in sorted(limits(), key=lambda q: orders_per_second(q, used)):
            need = used.get(quota.unit, 0) * target
            if need > quota.rate:
                print(
                    f"    {quota.name:<56} {_number(need):>9}{quota.per} (default "
                    f"{_number(quota.rate)}; {quota.adjustable})"
                )


def print_sources() -> None:
    print(f"\nQuotas: AWS defaults in {quotas.REGION}, read {quotas.QUOTAS_AS_OF}")
    for quota in limits():
        burst = f", burst {_number(quota.burst)}" if quota.burst else ""
        print(
            f"  {quota.name}: {_number(quota.rate)}{quota.per}{burst}; "
            f"adjustable: {quota.adjustable}"
        )
        via = f" (read via {quota.read_via})" if quota.read_via else ""
        print(f"    source: {quota.source}{via}")
        if quota.note:
            print(f"    {quota.note}")


def report(lambda_seconds: float) -> None:
    print(f"Orders per second each quota allows, per account and Region (units: {COUNTED})")
    print(f"Lambda: {lambda_seconds} s per invocation assumed")
    print_orders(lambda_seconds)
    print_scaling(lambda_seconds)
    print_sources()


# -- counting on the local cloud ---------------------------------------------------------------


def measure() -> dict[str, dict[str, float]]:
    """Run each reference order alone on a local cloud that counts (never refuses) the
    throttled APIs' calls, and count its units."""
    from bench.reference_orders import seed_codes, seed_members
    from bench.request_counter import RequestCounter
    from bench.usage_measurement import measure as measure_cost
    from bench.usage_measurement import reference_orders
    from fake_vendor import FakeVendor
    from local_cloud.cloud import LocalCloud
    from local_cloud.run.synth import synthesise
    from local_cloud.runtime import throttling

    counted: dict[str, dict[str, float]] = {}
    with FakeVendor() as vendor, LocalCloud(synthesise(), vendor=vendor, throttling={}) as cloud:
        assert cloud.throttler is not None
        counter = RequestCounter()
        counter.install(cloud)
        api = cloud.api()
        seed_members(vendor)
        for name, order, decision in reference_orders(0):
            seed_codes(vendor, order)
            calls = Counter(cloud.throttler.calls)
            invocations = cloud.target_invocations
            vendor_calls = _vendor_calls(vendor)
            usage = measure_cost(cloud, api, counter, name, order, decision)
            calls = Counter(cloud.throttler.calls) - calls
            counted[name] = {
                "transitions": calls[throttling.STATE_TRANSITION],
                "start_standard": calls[throttling.START_EXECUTION_STANDARD],
                "start_express": calls[throttling.START_EXECUTION_EXPRESS],
                "send_task_success": calls[throttling.SEND_TASK_SUCCESS],
                "put_events": calls[throttling.PUT_EVENTS],
                "target_invocations": cloud.target_invocations - invocations,
                "lambda_invocations": sum(usage.lambda_invocations.values()),
                "dynamodb_write_units": usage.dynamodb_write_units,
                "dynamodb_read_units": usage.dynamodb_read_units,
                "api_requests": usage.api_requests,
                "api_submissions": 1,
                "sqs_requests": usage.sqs_requests,
                "vendor_calls": _vendor_calls(vendor) - vendor_calls,
            }
            print(f"  {name}: {usage.status}", flush=True)
    return counted


def _vendor_calls(vendor: Any) -> int:
    return sum(n for path, n in vendor.stats().by_endpoint.items() if "health" not in path)


def compare(counted: dict[str, dict[str, float]]) -> list[str]:
    """Where the counts differ from ``PER_ORDER``."""
    differences = []
    for name, found in counted.items():
        for unit, value in found.items():
            if value != PER_ORDER[name].get(unit):
                differences.append(f"{name}: {unit} {value} (table: {PER_ORDER[name].get(unit)})")
    return differences


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.capacity", description=__doc__)
    parser.add_argument("--lambda-seconds", type=float, default=0.2)
    parser.add_argument("--measure", action="store_true", help="count the units again")
    args = parser.parse_args(argv)
    if not args.measure:
        report(args.lambda_seconds)
        return 0
    started = time.monotonic()
    counted = measure()
    for name, found in counted.items():
        print(f"\n  {name}\n    " + ", ".join(f"{k} {v:g}" for k, v in found.items()))
    differences = compare(counted)
    print(f"\n{len(differences)} difference(s) from PER_ORDER ({time.monotonic() - started:.0f} s)")
    for line in differences:
        print(f"  {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Drive N vendor requests through the Vendor Mediator on the local cloud and print how it kept
the vendor's quota, how often it retried, and how long requests waited for their answer.

    python -m bench.mediator --requests 300 --quota 20 --faults flaky
    python -m bench.mediator --requests 50 --quota 20 --job-seconds 60   # every redemption a job

Requests are seed 000 voucher requests put on the bus (each with its own voucher and token),
exactly as the order-processing state machine puts them; answers are read back from the bus.
The fake vendor records when it applied each redemption, which gives the calls per second it saw.
"""

from __future__ import annotations

import argparse
import bisect
import math
import statistics
import sys
import time
from collections import Counter
from dataclasses import replace
from typing import Any

from bench.figures import percentile
from bench.request_counter import RequestCounter
from fake_vendor import FakeVendor, FaultProfile
from local_cloud.cloud import LocalCloud
from local_cloud.run.synth import synthesise
from local_cloud.runtime.accounting import short_name
from loyalty import contract

ACCOUNT = "BENCH-MEMBER"


def request_event(i: int) -> dict[str, Any]:
    return {
        "source": contract.Source.ORDER_PROCESS.value,
        "detail_type": contract.VENDOR_DETAIL_TYPE,
        "detail": {
            "metadata": contract.vendor_metadata(
                domain=contract.DEFAULT_DOMAIN,
                service=contract.Source.ORDER_PROCESS,
                type=contract.VendorRequestType.VOUCHER.value,
                status=contract.VendorStatus.PROCESSED,
            ),
            "data": {
                contract.VENDOR_TOKEN_FIELD: f"bench-token-{i}",
                "loyalty_reference": ACCOUNT,
                "merchant_reference": "BENCH",
                "loyalty_order_reference": f"BENCH-{i:06d}",
                "vouchers": [{"voucher_code": f"B-{i:06d}"}],
            },
        },
    }


def worst_window(times: list[float], seconds: float = 1.0) -> int:
    """The most calls in any window of ``seconds`` (sliding: what a strict vendor counts)."""
    ordered = sorted(times)
    return max(
        (bisect.bisect_left(ordered, start + seconds) - i for i, start in enumerate(ordered)),
        default=0,
    )


def run(args: argparse.Namespace) -> int:
    context = {
        "loyalty:vendorRequestsPerSecond": args.quota,
        "loyalty:vendorMaxConcurrency": args.concurrency,
        "loyalty:vendorDeadlineSeconds": args.deadline,
        "loyalty:vendorRetryMaxSeconds": 2,
        "loyalty:vendorConnectTimeoutSeconds": 1,
        "loyalty:vendorReadTimeoutSeconds": 1,
        "loyalty:vendorJobPollSeconds": args.job_poll,
    }
    print(f"Synthesising and deploying (quota {args.quota}/s, {args.concurrency} consumers) ...")
    with FakeVendor() as vendor, LocalCloud(synthesise(context), vendor=vendor) as cloud:
        vendor.add_account(ACCOUNT, balance=0)
        for i in range(args.requests):
            vendor.add_voucher(f"B-{i:06d}")
        faults = FaultProfile.load(args.faults)
        if args.job_seconds is not None:  # every redemption a job (202) of that many seconds
            faults = replace(faults, async_operations=["voucher"], job_seconds=args.job_seconds)
        vendor.faults = faults
        counter = RequestCounter()
        counter.install(cloud)
        answers = cloud.tap(contract.vendor_answer_pattern())
        sent: dict[str, float] = {}
        answered: dict[str, float] = {}
        statuses: Counter[str] = Counter()

        started = time.monotonic()
        for first in range(0, args.requests, 10):
            batch = [request_event(i) for i in range(first, min(first + 10, args.requests))]
            cloud.put_events(*batch)
            now = time.monotonic()
            for event in batch:
                sent[event["detail"]["data"][contract.VENDOR_TOKEN_FIELD]] = now
        deadline = started + args.timeout
        seen = 0
        while len(answered) < args.requests and time.monotonic() < deadline:
            events = answers.events()
            now = time.monotonic()
            for event in events[seen:]:
                token = event["detail"]["data"][contract.VENDOR_TOKEN_FIELD]
                answered.setdefault(token, now)
                statuses[event["detail"]["metadata"]["status"]] += 1
            seen = len(events)
            if sys.stdout.isatty():
                print(f"\r  answered {len(answered)}/{args.requests}", end="", flush=True)
            time.sleep(0.01)
        elapsed = time.monotonic() - started
        if sys.stdout.isatty():
            print()
        stats = vendor.stats()
        applied = [r.at for r in vendor.redemptions()]
        requeues = sum(
            1 for line in cloud.function("Mediator").log_sink.lines if '"request requeued"' in line
        )
        mediator_calls = Counter(
            {
                op: n
                for (name, op), n in counter.by_function.items()
                if short_name(name) == "Mediator"
            }
        )

    waits = [answered[t] - sent[t] for t in answered]
    duration = (max(applied) - min(applied)) if len(applied) > 1 else 0.0
    print(f"\nMediator benchmark: {args.requests} voucher requests, faults={args.faults}")
    rows = [
        ("answered", f"{len(answered)}/{args.requests} in {elapsed:.1f} s ({dict(statuses)})"),
        ("vendor quota", f"{args.quota:g} requests/s"),
        (
            "achieved",
            f"{len(applied) / duration:.1f} redemptions/s over {duration:.1f} s"
            if duration
            else "-",
        ),
        (
            "worst 1 s window",
            f"{worst_window(applied)} redemptions (any one second, sliding; quota "
            f"{math.floor(args.quota)})",
        ),
        ("vendor calls", f"{stats.requests_total} ({dict(sorted(stats.by_status.items()))})"),
        (
            "job status calls",
            f"{stats.by_endpoint.get('GET /v1/jobs/{job_id}', 0) / args.requests:.2f} per request"
            if args.job_seconds is not None
            else "- (no jobs)",
        ),
        (
            "retries per request",
            f"{(stats.requests_total - len(applied)) / args.requests:.2f} calls, "
            f"{requeues / args.requests:.2f} requeues",
        ),
        (
            "AWS calls per request",
            f"{mediator_calls.total() / args.requests:.2f} by the mediator ("
            + ", ".join(f"{op} {n / args.requests:.2f}" for op, n in sorted(mediator_calls.items()))
            + ")",
        ),
        ("time to answer p50", f"{statistics.median(waits):.2f} s" if waits else "-"),
        ("time to answer p99", f"{percentile(waits, 0.99):.2f} s" if waits else "-"),
    ]
    for name, value in rows:
        print(f"  {name:<22} {value}")
    return 0 if len(answered) == args.requests else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.mediator", description=__doc__)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--quota", type=float, default=20, help="vendor requests per second")
    parser.add_argument("--concurrency", type=int, default=5, help="mediator consumers (>= 2)")
    parser.add_argument(
        "--faults", default="healthy", help="healthy|flaky|throttled|outage|slow|file.json"
    )
    parser.add_argument("--deadline", type=int, default=120, help="mediator deadline, seconds")
    parser.add_argument(
        "--job-seconds",
        type=float,
        default=None,
        help="the vendor answers every redemption 202 with a job of this many seconds",
    )
    parser.add_argument(
        "--job-poll", type=int, default=5, help="seconds between the mediator's job polls"
    )
    parser.add_argument(
        "--timeout", type=float, default=300, help="give up after this many seconds"
    )
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())

"""`bench.throughput`'s local cloud: the reference orders through `LocalCloud` with the fake
vendor, as ``make run`` runs them."""

from __future__ import annotations

import argparse
from typing import Any

from bench.reference_orders import seed_codes, seed_members
from bench.throughput_driver import Budget, Driver, Phase, drive, reference_order
from fake_vendor import FakeVendor
from local_cloud.cloud import ROOT, LocalCloud
from local_cloud.run.synth import synthesise

# Its own synthesis and logs: `make run` or a test run elsewhere must not clear them mid-run.
WORKDIR = ROOT / ".local_cloud" / "bench-throughput"


def local_cloud_phases(
    args: argparse.Namespace, budget: Budget, concurrencies: list[int]
) -> list[Phase]:
    context = {"loyalty:vendorRequestsPerSecond": args.quota}
    phases: list[Phase] = []
    with (
        FakeVendor() as vendor,
        LocalCloud(synthesise(context), vendor=vendor, workdir=WORKDIR) as cloud,
    ):
        seed_members(vendor)
        for concurrency in concurrencies:
            run = f"L{concurrency}"
            orders = [reference_order(run, i) for i in range(args.orders)]
            for order in orders:
                seed_codes(vendor, order)

            def submit(i: int, orders: list[dict[str, Any]] = orders) -> str:
                cloud.submit_order(orders[i])
                return str(orders[i]["order_reference"])

            driver = Driver(
                sfn=cloud.client("stepfunctions"),
                state_machine_arn=cloud.state_machine_arn,
                submit=submit,
                execution_arn=cloud.execution_arn,
            )
            phase = drive(
                driver,
                Phase("local cloud", concurrency, args.orders),
                budget.next_deadline(),
            )
            phases.append(phase)
            # What is still moving (late answers, finishers) must not count against the next C.
            cloud.wait_idle(timeout=10)
    return phases

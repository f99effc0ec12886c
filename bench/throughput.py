"""Orders per second through the local cloud, against the bare Step Functions engine it runs on.

    python -m bench.throughput --orders 40 --concurrencies 1,4,16

For each concurrency C, N reference orders (a sale with two vouchers and an instant reward: ten
waiting tasks, five worker steps, four vendor requests and the completion) are pushed with at most
C orders in flight: a new order is submitted as soon as one ends. Two systems are measured in the
same run, one after the other, with the same N and the same concurrencies:

* **local cloud**: `LocalCloud` with the fake vendor, each order put on the bus as
  ``order.received`` (``cloud.submit_order``), exactly what ``make run`` does: the order starter,
  the worker Lambdas, the Step Finisher, the mediator and its SQS buffer, the vendor over HTTP.
* **bare loop**: the engine's ceiling on this machine. The same moto (``mock_aws`` with its ASL
  engine, ``local_cloud.runtime.moto_patches`` applied) runs a state machine with the same
  waiting tasks in the same shape (five ``events:putEvents.waitForTaskToken`` tasks in a chain,
  a Parallel of one task and two Maps over the two vouchers and the reward, one final task; same
  heartbeat, timeout and retry), and no handlers: one loop thread answers every task with
  ``SendTaskSuccess`` through boto3, as the Step Finisher does through the aws-sdk integration.
  The loop learns each token when the engine issues it (a hook on moto's
  ``CallbackPoolManager.add``, the engine's own registry of task tokens, feeding a queue the
  loop blocks on): no polling, no event delivery, no Lambda. The tasks' ``PutEvents`` still go to
  moto's default bus, where no rule matches them.

Completion is observed the same way for both: one ``ListExecutions`` (RUNNING) per sweep, and a
``DescribeExecution`` only for an order that left that list (or has not started yet), at an
interval of a tenth of the median order duration so far (10 to 500 ms): polling shares the CPU
with what it watches. An order's duration runs from just before it was submitted to the
execution's ``stopDate``; throughput is completed orders over the time from the first submission
to the last ``stopDate``. CPU is the process's CPU time (every thread) per completed order.
Waiting tasks per order are counted from each execution's history (``TaskSubmitted`` events of a
``.waitForTaskToken`` resource).

The vendor quota is raised for the local cloud (``--quota``, default 1000 requests/s) so that the
figures are the local cloud's and not the mediator's quota (10/s in cdk.json, four requests per
order); ``bench.mediator`` measures the quota.

It asserts nothing; it exits 1 if an order did not complete in time.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

from bench.bare_loop import bare_loop_phases
from bench.figures import percentile
from bench.local_cloud_runner import local_cloud_phases
from bench.throughput_driver import Budget, Phase

SETUP_SECONDS = 30  # synthesis and deployment of the local cloud, budgeted out of --timeout


# -- report -------------------------------------------------------------------------------------


def _figures(phase: Phase) -> tuple[str, str, str, str]:
    if not phase.durations:
        return "-", "-", "-", "-"
    rate = f"{phase.per_second:.2f}"
    if phase.completed < phase.orders:
        rate += f" ({phase.completed}/{phase.orders})"
    cpu = f"{phase.cpu_seconds / phase.completed:.2f}"
    return (
        rate,
        f"{statistics.median(phase.durations):.2f}",
        f"{percentile(phase.durations, 0.99):.2f}",
        cpu,
    )


def report(local: list[Phase], bare: list[Phase], concurrencies: list[int]) -> None:
    header = (
        f"{'C':>3} | {'local cloud /s':>14} | {'bare loop /s':>12} | {'ratio':>6} | "
        f"{'local p50 / p99 s':>17} | {'bare p50 / p99 s':>16} | {'CPU s/order local / bare':>24}"
    )
    print(header)
    print("-" * len(header))
    by_c = {(p.system, p.concurrency): p for p in [*local, *bare]}
    for c in concurrencies:
        lc = by_c.get(("local cloud", c), Phase("local cloud", c, 0))
        bl = by_c.get(("bare loop", c), Phase("bare loop", c, 0))
        l_rate, l_p50, l_p99, l_cpu = _figures(lc)
        b_rate, b_p50, b_p99, b_cpu = _figures(bl)
        ratio = (
            f"{100 * lc.per_second / bl.per_second:.0f}%"
            if bl.per_second and lc.per_second
            else "-"
        )
        print(
            f"{c:>3} | {l_rate:>14} | {b_rate:>12} | {ratio:>6} | "
            f"{l_p50 + ' / ' + l_p99:>17} | {b_p50 + ' / ' + b_p99:>16} | "
            f"{l_cpu + ' / ' + b_cpu:>24}"
        )
    for phase in [*local, *bare]:
        tasks = sorted(set(phase.waiting_tasks))
        notes = [f"waiting tasks per order {'/'.join(map(str, tasks)) or '-'}"]
        if phase.failed:
            notes.append(f"not SUCCEEDED: {phase.failed}")
        if phase.timed_out:
            notes.append("gave up at its time budget")
        print(f"  {phase.system} C={phase.concurrency}: " + "; ".join(notes))


def run(args: argparse.Namespace) -> int:
    concurrencies = [int(c) for c in args.concurrencies.split(",") if c.strip()]
    started = time.monotonic()
    print(
        f"Throughput: {args.orders} orders (sale, 2 vouchers, 1 reward) per concurrency "
        f"{concurrencies}, {os.cpu_count()} CPUs, time budget {args.timeout:.0f} s",
        flush=True,
    )
    systems = {s.strip() for s in args.systems.split(",")}
    budget = Budget(args.timeout - SETUP_SECONDS, len(systems) * len(concurrencies))
    bare: list[Phase] = []
    local: list[Phase] = []
    if "bare" in systems:
        bare = bare_loop_phases(args, budget, concurrencies)
        print(f"  bare loop done in {time.monotonic() - started:.1f} s", flush=True)
    if "local" in systems:
        local = local_cloud_phases(args, budget, concurrencies)
        print(f"  local cloud done in {time.monotonic() - started:.1f} s", flush=True)
    print()
    report(local, bare, concurrencies)
    loads = [p.other_cores for p in [*local, *bare] if p.other_cores is not None]
    if loads:
        warning = "  <- figures too low: rerun on a quiet machine" if max(loads) > 0.1 else ""
        print(f"  other processes used up to {max(loads):.2f} cores during a phase{warning}")
    complete = all(p.completed == p.orders for p in [*local, *bare])
    return 0 if complete else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.throughput",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--orders", type=int, default=40, help="orders per concurrency")
    parser.add_argument("--concurrencies", default="1,4,16", help="orders in flight, e.g. 1,4,16")
    parser.add_argument(
        "--quota", type=float, default=1000, help="the mediator's vendor quota, requests/s"
    )
    parser.add_argument(
        "--systems",
        default="bare,local",
        help="which to measure: bare,local (one alone, e.g. to profile it)",
    )
    parser.add_argument(
        "--timeout", type=float, default=270, help="give up after about this many seconds"
    )
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())

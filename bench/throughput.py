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
import json
import math
import os
import queue
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.stepfunctions.parser.asl.eval.callback.callback import CallbackPoolManager

from bench.reference_orders import reference_sale, seed_codes, seed_members
from fake_vendor import FakeVendor
from local_cloud.cloud import ACCOUNT, REGION, ROOT, TERMINAL_EXECUTION_STATUSES, LocalCloud
from local_cloud.run.progress import OrderProgress
from local_cloud.run.synth import synthesise
from local_cloud.runtime import moto_patches
from loyalty.naming import execution_arn_for, execution_name_for

WAIT_FOR_TOKEN = "arn:aws:states:::events:putEvents.waitForTaskToken"
# Its own synthesis and logs: `make run` or a test run elsewhere must not clear them mid-run.
WORKDIR = ROOT / ".local_cloud" / "bench-throughput"
SETUP_SECONDS = 30  # synthesis and deployment of the local cloud, budgeted out of --timeout


# -- orders -------------------------------------------------------------------------------------


def reference_order(run: str, i: int) -> dict[str, Any]:
    """A sale with two vouchers and one instant reward, each code unique to the order."""
    return reference_sale(f"TP-{run}-{i:05d}")


# -- driving N orders at concurrency C ----------------------------------------------------------


@dataclass
class Phase:
    system: str
    concurrency: int
    orders: int
    durations: list[float] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    """Orders that ended other than SUCCEEDED: reference -> status."""
    elapsed: float = 0.0
    cpu_seconds: float = 0.0
    waiting_tasks: list[int] = field(default_factory=list)
    timed_out: bool = False
    other_cores: float | None = None
    """CPU that other processes used meanwhile, in cores."""

    @property
    def completed(self) -> int:
        return len(self.durations)

    @property
    def per_second(self) -> float:
        return self.completed / self.elapsed if self.elapsed > 0 else 0.0


class Driver:
    """Starts orders of one state machine and sees them end, through the Step Functions API."""

    def __init__(
        self,
        *,
        sfn: Any,
        state_machine_arn: str,
        submit: Callable[[int], str],
        execution_arn: Callable[[str], str],
    ) -> None:
        self._sfn = sfn
        self._machine = state_machine_arn
        self._submit = submit
        self._execution_arn = execution_arn

    def run(self, phase: Phase, deadline: float, progress: OrderProgress) -> list[str]:
        """Returns the execution ARNs of the orders that ended."""
        in_flight: dict[str, float] = {}  # execution ARN -> wall time of submission
        ended: list[str] = []
        first_submitted: float | None = None
        last_stop = 0.0
        submitted = 0
        cpu_started = time.process_time()
        load = OtherLoad()
        while submitted < phase.orders or in_flight:
            if time.monotonic() >= deadline:
                phase.timed_out = True
                break
            while submitted < phase.orders and len(in_flight) < phase.concurrency:
                now = time.time()
                first_submitted = first_submitted or now
                in_flight[self._execution_arn(self._submit(submitted))] = now
                submitted += 1
            typical = statistics.median(phase.durations) if phase.durations else 0.2
            time.sleep(min(0.5, max(0.01, typical / 10)))
            running = self._running()
            for arn in [arn for arn in in_flight if arn not in running]:
                status, stopped = self._status(arn)
                if status not in TERMINAL_EXECUTION_STATUSES:
                    continue  # not started yet (or started after the list was taken)
                assert stopped is not None
                submitted_at = in_flight.pop(arn)
                ended.append(arn)
                last_stop = max(last_stop, stopped)
                if status == "SUCCEEDED":
                    phase.durations.append(stopped - submitted_at)
                else:
                    phase.failed[arn.rsplit(":", 1)[-1]] = status
            progress.show(len(ended), f"{len(in_flight)} in flight")
        phase.cpu_seconds = time.process_time() - cpu_started
        phase.other_cores = load.cores()
        if first_submitted is not None and last_stop:
            phase.elapsed = last_stop - first_submitted
        return ended

    def _running(self) -> set[str]:
        running: set[str] = set()
        arguments: dict[str, Any] = {"stateMachineArn": self._machine, "statusFilter": "RUNNING"}
        while True:
            page = self._sfn.list_executions(**arguments)
            running.update(e["executionArn"] for e in page["executions"])
            if not page.get("nextToken"):
                return running
            arguments["nextToken"] = page["nextToken"]

    def _status(self, arn: str) -> tuple[str, float | None]:
        try:
            execution = self._sfn.describe_execution(executionArn=arn)
        except ClientError as err:
            if err.response["Error"]["Code"] != "ExecutionDoesNotExist":
                raise
            return "NOT_STARTED", None
        stop: datetime | None = execution.get("stopDate")
        return str(execution["status"]), stop.timestamp() if stop else None

    def waiting_tasks(self, execution_arn: str) -> int:
        count = 0
        arguments: dict[str, Any] = {"executionArn": execution_arn, "maxResults": 1000}
        while True:
            page = self._sfn.get_execution_history(**arguments)
            count += sum(
                1
                for event in page["events"]
                if event["type"] == "TaskSubmitted"
                and event.get("taskSubmittedEventDetails", {})
                .get("resource", "")
                .endswith("waitForTaskToken")
            )
            if not page.get("nextToken"):
                return count
            arguments["nextToken"] = page["nextToken"]


def drive(driver: Driver, phase: Phase, deadline: float) -> Phase:
    progress = OrderProgress(phase.orders, label=f"{phase.system} C={phase.concurrency}")
    try:
        ended = driver.run(phase, deadline, progress)
    finally:
        progress.close()
    # Counted afterwards: histories are long, and reading them while orders run shares the CPU.
    phase.waiting_tasks = [driver.waiting_tasks(arn) for arn in ended]
    return phase


class Budget:
    """Shares ``seconds`` out among phases: each may use its share plus what earlier phases
    left unused."""

    def __init__(self, seconds: float, phases: int) -> None:
        self._end = time.monotonic() + seconds
        self._left = phases

    def next_deadline(self) -> float:
        now = time.monotonic()
        share = max(0.0, self._end - now) / max(1, self._left)
        self._left -= 1
        return now + share


# -- the local cloud ----------------------------------------------------------------------------


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


# -- the bare loop ------------------------------------------------------------------------------


def _task(next_state: str | None) -> dict[str, Any]:
    """A waiting task as the order machine has them (CDK's EventBridgePutEvents with
    WAIT_FOR_TASK_TOKEN, heartbeat 60 s, timeout 300 s, two retries on timeouts)."""
    task: dict[str, Any] = {
        "Type": "Task",
        "Resource": WAIT_FOR_TOKEN,
        "HeartbeatSeconds": 60,
        "TimeoutSeconds": 300,
        "ResultPath": None,
        "Retry": [
            {
                "ErrorEquals": ["States.HeartbeatTimeout", "States.Timeout"],
                "IntervalSeconds": 2,
                "MaxAttempts": 2,
                "BackoffRate": 2,
                "JitterStrategy": "FULL",
            }
        ],
        "Parameters": {
            "Entries": [
                {
                    "Detail": {
                        "order_reference.$": "$.order_reference",
                        "execution_id.$": "$$.Execution.Id",
                        "requested_at.$": "$$.State.EnteredTime",
                        "TaskToken.$": "$$.Task.Token",
                    },
                    "DetailType": "bench.step",
                    "EventBusName": f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/default",
                    "Source": "bench.bare-loop",
                }
            ]
        },
    }
    if next_state:
        task["Next"] = next_state
    else:
        task["End"] = True
    return task


def _redemptions(items: str, code: str) -> dict[str, Any]:
    return {
        "StartAt": f"Redeem-{items}",
        "States": {
            f"Redeem-{items}": {
                "Type": "Map",
                "ItemsPath": f"$.{items}",
                "MaxConcurrency": 10,
                "ItemSelector": {
                    f"{code}.$": f"$$.Map.Item.Value.{code}",
                    "order_reference.$": "$.order_reference",
                },
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "INLINE"},
                    "StartAt": f"Redeem-{code}",
                    "States": {f"Redeem-{code}": _task(None)},
                },
                "ResultPath": None,
                "End": True,
            }
        },
    }


def bare_definition() -> dict[str, Any]:
    """The order machine's waiting tasks in its shape: five steps, then points ‖ each voucher ‖
    each reward, then the completion."""
    steps = ["Recognise", "Validate", "Store", "ProportionDiscounts", "Transform"]
    states: dict[str, Any] = {
        name: _task(steps[i + 1] if i + 1 < len(steps) else "ApplyLoyalty")
        for i, name in enumerate(steps)
    }
    states["ApplyLoyalty"] = {
        "Type": "Parallel",
        "ResultPath": None,
        "Branches": [
            {"StartAt": "ApplyPoints", "States": {"ApplyPoints": _task(None)}},
            _redemptions("vouchers", "voucher_code"),
            _redemptions("rewards", "reward_code"),
        ],
        "Next": "Complete",
    }
    states["Complete"] = _task(None)
    return {"StartAt": steps[0], "States": states, "TimeoutSeconds": 691200}


@contextmanager
def issued_tokens() -> Iterator[queue.Queue[str]]:
    """Every task token the engine issues, as it issues it."""
    tokens: queue.Queue[str] = queue.Queue()
    original = CallbackPoolManager.add

    def add(self: CallbackPoolManager, callback_id: str) -> Any:
        endpoint = original(self, callback_id)
        tokens.put(callback_id)
        return endpoint

    CallbackPoolManager.add = add  # type: ignore[method-assign]
    try:
        yield tokens
    finally:
        CallbackPoolManager.add = original  # type: ignore[method-assign]


def _answer_loop(tokens: queue.Queue[str | None], sfn: Any) -> None:
    while (token := tokens.get()) is not None:
        try:
            sfn.send_task_success(taskToken=token, output="{}")
        except ClientError as err:  # e.g. the execution ended meanwhile: count nothing
            print(f"bare loop: {err}", file=sys.stderr)


def bare_loop_phases(
    args: argparse.Namespace, budget: Budget, concurrencies: list[int]
) -> list[Phase]:
    moto_patches.apply()
    saved = {k: os.environ.get(k) for k in ("AWS_DEFAULT_REGION", "AWS_REGION")}
    os.environ.update(AWS_DEFAULT_REGION=REGION, AWS_REGION=REGION)
    phases: list[Phase] = []
    config = Config(retries={"max_attempts": 1})
    try:
        with (
            mock_aws(config={"stepfunctions": {"execute_state_machine": True}}),
            issued_tokens() as tokens,
        ):
            sfn = boto3.client("stepfunctions", region_name=REGION, config=config)
            machine = sfn.create_state_machine(
                name="BareLoop",
                definition=json.dumps(bare_definition()),
                roleArn=f"arn:aws:iam::{ACCOUNT}:role/bench",
            )["stateMachineArn"]
            loop = threading.Thread(
                target=_answer_loop,
                args=(tokens, boto3.client("stepfunctions", region_name=REGION, config=config)),
                name="bare-loop",
                daemon=True,
            )
            loop.start()
            try:
                for concurrency in concurrencies:
                    run = f"B{concurrency}"
                    orders = [reference_order(run, i) for i in range(args.orders)]

                    def submit(i: int, orders: list[dict[str, Any]] = orders) -> str:
                        order = orders[i]
                        sfn.start_execution(
                            stateMachineArn=machine,
                            name=execution_name_for(order["order_reference"]),
                            input=json.dumps(order),
                        )
                        return str(order["order_reference"])

                    driver = Driver(
                        sfn=sfn,
                        state_machine_arn=machine,
                        submit=submit,
                        execution_arn=lambda reference: execution_arn_for(machine, reference),
                    )
                    phase = drive(
                        driver,
                        Phase("bare loop", concurrency, args.orders),
                        budget.next_deadline(),
                    )
                    phases.append(phase)
            finally:
                tokens.put(None)  # type: ignore[arg-type]
                loop.join(timeout=10)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return phases


# -- the machine --------------------------------------------------------------------------------


class OtherLoad:
    """CPU used by other processes while the benchmark ran (from /proc/stat, Linux only): the
    figures are only this machine's ceiling if nothing else competed for its cores."""

    def __init__(self) -> None:
        self._busy_start = self._busy()
        self._own_start = time.process_time()
        self._started = time.monotonic()

    @staticmethod
    def _busy() -> float | None:
        try:
            with open("/proc/stat") as stat:  # noqa: PTH123 - a procfs read
                fields = [int(v) for v in stat.readline().split()[1:]]
        except (OSError, ValueError):
            return None
        idle = fields[3] + fields[4]  # idle + iowait
        return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")

    def cores(self) -> float | None:
        """Cores' worth of CPU used by other processes, on average."""
        busy = self._busy()
        if busy is None or self._busy_start is None:
            return None
        others = (busy - self._busy_start) - (time.process_time() - self._own_start)
        return max(0.0, others) / max(1e-9, time.monotonic() - self._started)


# -- report -------------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]


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

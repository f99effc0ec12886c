"""Drives N orders of one state machine at concurrency C through the Step Functions API and sees
them end: what `bench.throughput` measures both of its systems with."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from bench.other_load import OtherLoad
from bench.reference_orders import reference_sale
from local_cloud.cloud import TERMINAL_EXECUTION_STATUSES
from local_cloud.run.progress import OrderProgress

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

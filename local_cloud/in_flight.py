"""What is still moving in the local cloud: waiting until nothing is, the router's counts,
and why an order has not ended (a stall report)."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from botocore.exceptions import ClientError

from local_cloud.orders import Orders
from local_cloud.queue_messages import QueueMessages
from local_cloud.runtime.event_router import EventRouter
from local_cloud.runtime.sqs_pollers import SqsPollers

_TASK_ENDED = frozenset(
    {"TaskSucceeded", "TaskFailed", "TaskTimedOut", "TaskSubmitFailed", "TaskStartFailed"}
)


class InFlight(Orders, QueueMessages):
    """Deliveries, poller invocations, finishers and buffered messages in flight, and stalled
    orders."""

    _router: EventRouter | None
    _pollers: SqsPollers | None

    def wait_idle(self, timeout: float = 30) -> bool:
        """Wait until nothing is in flight: no event being delivered, no finisher running, no
        message waiting or hidden (requeued with a delay) in a buffer queue, no poller
        invocation running. Returns False on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._quiet():
                time.sleep(0.05)  # an answer may be on its way from a thread that just finished
                if self._quiet():
                    return True
            time.sleep(0.02)
        return False

    def _quiet(self) -> bool:
        assert self._router is not None and self._pollers is not None
        return (
            self._router.in_flight == 0
            and self._pollers.busy == 0
            and not self._running_finishers()
            and not any(self.buffered_messages().values())
        )

    @property
    def target_invocations(self) -> int:
        """Events EventBridge sent to rule targets so far, one per target (its invocations)."""
        assert self._router is not None
        return self._router.target_invocations

    @property
    def throttled_deliveries(self) -> int:
        """Deliveries to a state machine that its ``StartExecution`` quota refused and that were
        retried later (with a ``throttling`` quota)."""
        assert self._router is not None
        return self._router.throttled_retries

    def in_flight(self) -> dict[str, Any]:
        """What is still moving (for diagnostics when ``wait_idle`` gives up): deliveries, poller
        invocations, finishers running, each non-empty queue's (visible, hidden) messages and
        each function that failed (errors, async retries, async failures, failed SQS items)."""
        assert self._router is not None and self._pollers is not None
        return {
            "deliveries": self._router.in_flight,
            "poller_invocations": self._pollers.busy,
            "finishers_running": self._running_finishers(),
            "buffered_messages": {
                queue: depth for queue, depth in self.queue_depths().items() if any(depth)
            },
            "failing_functions": self._failing_functions(),
        }

    def stall_report(self, order_reference: str, *, last_events: int = 8) -> str:
        """Why an order has not ended (for a test's failure message): its execution's open tasks
        by state, the last history events, what is still moving (functions that failed among it)
        and what the vendor answered."""
        arn = self.current_execution_arn(order_reference)
        try:
            history = self.execution_history(arn)
        except ClientError as err:
            return f"{arn}: {err.response['Error']['Code']}"
        by_id = {event["id"]: event for event in history}

        def state_of(event: dict[str, Any]) -> str:
            # Task events point back (previousEventId) to the state they belong to.
            while event and "stateEnteredEventDetails" not in event:
                event = by_id.get(event.get("previousEventId", 0), {})
            return str(event.get("stateEnteredEventDetails", {}).get("name", "?"))

        open_tasks: Counter[str] = Counter()
        for event in history:
            if event["type"] == "TaskScheduled":
                open_tasks[state_of(event)] += 1
            elif event["type"] in _TASK_ENDED:
                open_tasks[state_of(event)] -= 1
        tail = ", ".join(f"{e['type']}({state_of(e)})" for e in history[-last_events:])
        return (
            f"{arn}: {len(history)} history events; open tasks by state "
            f"{dict(+open_tasks)}; last events: {tail}; in flight {self.in_flight()}; "
            f"parked for reconciliation {self.reconciliation_backlog()}; dead letters "
            f"{ {k: len(v) for k, v in self.dead_letters().items()} }; "
            f"vendor {self.vendor.stats().to_dict()}"
        )

    def _failing_functions(self) -> dict[str, tuple[int, int, int, int]]:
        """(errors, async retries, async failures, failed SQS items) of each function that had
        any errors, given-up events or failed items."""
        return {
            name: (s.errors, s.async_retries, s.async_failures, s.item_failures)
            for name, f in self.functions.items()
            if (s := f.stats).errors or s.async_failures or s.item_failures
        }

    def _running_finishers(self) -> int:
        sfn = self.client("stepfunctions")
        finisher = self.output("StepFinisherArn")
        return len(
            sfn.list_executions(stateMachineArn=finisher, statusFilter="RUNNING")["executions"]
        )

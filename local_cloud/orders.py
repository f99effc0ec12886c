"""Orders in the local cloud: submitting one as a till does, and following it to its outcome
(its execution, its records in the orders table)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from local_cloud.events import CloudEvents
from loyalty.contract import OrderEvent

TERMINAL_EXECUTION_STATUSES = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"})


@dataclass(frozen=True)
class OrderOutcome:
    order_reference: str
    order_type: str | None
    status: str
    """The order's status in the orders table, or the execution's when the order was never
    stored (``NOT_STARTED`` when no execution exists)."""
    execution_status: str
    error: str | None
    cause: str | None
    duration_seconds: float | None
    state_transitions: int
    items: dict[str, Any] = field(default_factory=dict)

    @property
    def terminal(self) -> bool:
        return self.execution_status in TERMINAL_EXECUTION_STATUSES


class Orders(CloudEvents):
    """Submit orders and read what became of them."""

    def submit_order(self, order: dict[str, Any]) -> None:
        """What a client integration does: put ``order.received``."""
        self.put_events(
            {
                "source": self.intake_source,
                "detail_type": OrderEvent.RECEIVED.value,
                "detail": order,
            }
        )

    def wait_for_order(self, order_reference: str, timeout: float = 60) -> OrderOutcome:
        """Wait until the order's execution ends (or ``timeout``), then describe the outcome."""
        deadline = time.monotonic() + timeout
        pause = 0.05
        while self._execution_status(order_reference) not in TERMINAL_EXECUTION_STATUSES:
            if time.monotonic() >= deadline:
                break
            time.sleep(pause)
            # Polling is not free: it shares the CPU with the cloud it watches. Soon at first (a
            # step takes milliseconds), then a few times a second for an order that takes long.
            pause = min(pause * 1.5, 0.25)
        return self.order_outcome(order_reference)

    def execution_statuses(self, *, started_since: datetime | None = None) -> dict[str, str]:
        """Status of every order execution (or of those started since ``started_since``), by
        execution ARN, in one listing: cheaper than a ``describe_execution`` per order when many
        are running. The listing is newest first (as on AWS), so it stops at the first older
        execution: a batch's polls cost what the batch has, not what the cloud ran before."""
        statuses: dict[str, str] = {}
        paginator = self._sfn.get_paginator("list_executions")
        for page in paginator.paginate(stateMachineArn=self.state_machine_arn):
            for execution in page["executions"]:
                if started_since is not None and execution["startDate"] < started_since:
                    return statuses
                statuses[execution["executionArn"]] = execution["status"]
        return statuses

    def current_execution_arn(self, order_reference: str) -> str:
        """The execution that owns the order now (an operator's re-run, after one), or the first
        one's name while nothing is stored."""
        record = self.order_record(order_reference) or {}
        return str(record.get("execution_id") or self.execution_arn(order_reference))

    def _execution_status(self, order_reference: str) -> str:
        try:
            execution = self._sfn.describe_execution(
                executionArn=self.current_execution_arn(order_reference)
            )
        except ClientError as err:
            if err.response["Error"]["Code"] != "ExecutionDoesNotExist":
                raise
            return "NOT_STARTED"
        return str(execution["status"])

    def order_outcome(self, order_reference: str) -> OrderOutcome:
        try:
            execution = self._sfn.describe_execution(
                executionArn=self.current_execution_arn(order_reference)
            )
        except ClientError as err:
            if err.response["Error"]["Code"] != "ExecutionDoesNotExist":
                raise
            execution = {"status": "NOT_STARTED"}
        item = self.order_item(order_reference) or {}
        duration = None
        if "stopDate" in execution:
            duration = (execution["stopDate"] - execution["startDate"]).total_seconds()
        transitions = 0
        if execution["status"] in TERMINAL_EXECUTION_STATUSES:  # (histories grow long)
            transitions = sum(
                1
                for e in self.execution_history(execution["executionArn"])
                if e["type"].endswith("StateEntered")
            )
        return OrderOutcome(
            order_reference=order_reference,
            order_type=item.get("order_type"),
            status=item.get("status") or execution["status"],
            execution_status=execution["status"],
            error=execution.get("error") or item.get("error"),
            cause=execution.get("cause") or item.get("cause"),
            duration_seconds=duration,
            state_transitions=transitions,
            items=item.get("items", {}),
        )

    def execution_history(self, execution_arn: str) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        paginator = self._sfn.get_paginator("get_execution_history")
        for page in paginator.paginate(executionArn=execution_arn):
            events.extend(page["events"])
        return events

    def order_item(self, order_reference: str) -> dict[str, Any] | None:
        return self._orders().get(order_reference)

    def order_record(self, order_reference: str) -> dict[str, Any] | None:
        """The order record alone, without its items."""
        return self._orders().order_record(order_reference)

    def _orders(self) -> Any:
        from loyalty.adapters.orders_table import OrdersTable

        return OrdersTable(client=self._dynamodb, table_name=self.orders_table)

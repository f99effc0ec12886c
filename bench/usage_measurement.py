"""Runs each reference order alone on the local cloud and collects the billable units of its
window: execution history, Step Finisher executions, the event log, Lambda statistics and logs,
and the requests `RequestCounter` saw."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from bench import prices
from bench.reference_orders import reference_return, reference_sale
from bench.request_counter import RequestCounter
from bench.usage import OrderUsage
from local_cloud.api_client import ApiClient
from local_cloud.cloud import LocalCloud
from local_cloud.runtime.accounting import short_name
from loyalty import contract


def reference_orders(run: int) -> list[tuple[str, dict[str, Any], str | None]]:
    """(name, order, decision): the three reference orders, unique per run."""
    return [
        ("sale, 2 vouchers, 1 reward", reference_sale(f"COST-SALE-{run}"), None),
        ("return", reference_return(f"COST-RETURN-{run}"), None),
        (
            "return awaiting approval",
            reference_return(f"COST-APPROVAL-{run}", awaiting_approval=True),
            "approve",
        ),
    ]


@contextmanager
def window(cloud: LocalCloud, counter: RequestCounter) -> Iterator[Callable[[], dict[str, Any]]]:
    """Snapshot before the block; the function it yields gives what happened since."""
    sfn = cloud.client("stepfunctions")
    finisher = cloud.output("StepFinisherArn")
    finishers_before = {e["executionArn"] for e in _executions(sfn, finisher)}
    requests_before, units_before = counter.snapshot()
    stats_before = {
        f.name: (f.stats.invocations, f.stats.duration_ms) for f in cloud.functions.values()
    }
    log_bytes_before = {name: _log_bytes(f) for name, f in cloud.functions.items()}
    started_ms = int(time.time() * 1000) - 1

    def since() -> dict[str, Any]:
        requests, units = counter.snapshot()
        finishers = [
            e for e in _executions(sfn, finisher) if e["executionArn"] not in finishers_before
        ]
        return {
            "requests": requests - requests_before,
            "units": units - units_before,
            "finishers": finishers,
            "functions": {
                f.name: (
                    f.stats.invocations - stats_before[f.name][0],
                    f.stats.duration_ms - stats_before[f.name][1],
                    f.memory_mb,
                )
                for f in cloud.functions.values()
            },
            "function_log_bytes": sum(_log_bytes(f) for f in cloud.functions.values())
            - sum(log_bytes_before.values()),
            "events": [message for _, message in cloud.event_log(start_ms=started_ms)],
        }

    yield since


def _executions(sfn: Any, machine: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=machine):
        found.extend(page["executions"])
    return found


def _log_bytes(function: Any) -> int:
    return sum(len(line) + 1 for line in function.log_sink.lines)


def measure(
    cloud: LocalCloud,
    api: ApiClient,
    counter: RequestCounter,
    name: str,
    order: dict[str, Any],
    decision: str | None,
) -> OrderUsage:
    reference = order["order_reference"]
    usage = OrderUsage(name)
    with window(cloud, counter) as since:
        assert api.submit(order).status == 202
        usage.api_requests = 1
        if decision:
            deadline = time.monotonic() + 60
            while (cloud.order_item(reference) or {}).get("status") != "AWAITING_APPROVAL":
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{reference} never waited for approval")
                time.sleep(0.05)
            reviewer = cloud.api("reviewer")  # never the principal that submitted
            assert reviewer.decide(reference, decision, comment="bench").status == 200
            usage.api_requests += 1
        outcome = cloud.wait_for_order(reference, timeout=120)
        if not cloud.wait_idle(timeout=60):
            raise RuntimeError(
                f"the local cloud did not settle after {reference}: {cloud.in_flight()}"
            )
        seen = since()

    usage.status = outcome.status
    history = cloud.execution_history(cloud.execution_arn(reference))
    usage.state_transitions = sum(e["type"].endswith("StateEntered") for e in history)
    usage.waiting_tasks = sum(e["type"] == "TaskSubmitted" for e in history)
    sfn = cloud.client("stepfunctions")
    usage.express_requests = len(seen["finishers"])
    for execution in seen["finishers"]:
        described = sfn.describe_execution(executionArn=execution["executionArn"])
        seconds = (described["stopDate"] - described["startDate"]).total_seconds()
        billed = (
            math.ceil(seconds / prices.EXPRESS_BILLING_INCREMENT_S)
            * prices.EXPRESS_BILLING_INCREMENT_S
        )
        usage.express_billed_gb_seconds += billed * prices.EXPRESS_BILLED_GB
    usage.events = len(seen["events"])
    usage.event_bytes = sum(len(m) for m in seen["events"])
    usage.archive_bytes = sum(len(m) for m in seen["events"] if m.startswith("{"))
    for function_name, (invocations, duration_ms, memory_mb) in seen["functions"].items():
        if invocations:
            usage.lambda_invocations[short_name(function_name)] += invocations
            usage.lambda_gb_seconds += duration_ms / 1000 * memory_mb / 1024
    usage.dynamodb_read_units = seen["units"]["read"]
    usage.dynamodb_write_units = seen["units"]["write"]
    # EventBridge's deliveries to a buffer queue are SendMessage requests too (moto's events
    # backend delivers without an SQS request to count): the mediator's vendor requests, the
    # Token Handler's vendor answers and the order starter's order.received. The token-bearing
    # ones are summary lines in the event log.
    buffered = sum(_buffered(m) for m in seen["events"])
    usage.sqs_requests = (
        sum(n for op, n in seen["requests"].items() if op.startswith("sqs:")) + buffered
    )
    usage.log_bytes = usage.event_bytes + seen["function_log_bytes"]
    return usage


def _buffered(line: str) -> bool:
    """Whether the event of this event-log line goes to a buffer queue."""
    event = contract.parse_event_summary(line)
    if event is None:
        event = json.loads(line) if line.startswith("{") else {}
    if event.get("detail-type") == contract.OrderEvent.RECEIVED:
        return True
    if event.get("detail-type") != contract.VENDOR_DETAIL_TYPE:
        return False
    status = event.get("detail", {}).get("metadata", {}).get("status")
    return status in {s.value for s in contract.VendorStatus}

"""What one order costs: every billable unit it uses, counted on the local cloud, priced with
`bench.prices` into dollars per 1,000,000 orders, beside the naive design the seeds show.

    python -m bench.cost [--repeat 3]

Each reference order (a sale with 2 vouchers and 1 reward; a return; a return that waits for a
person and is approved) runs alone, `--repeat` times, and everything in its window is counted:
state transitions from the execution history; Step Finisher executions and their duration;
events from the event log (count and bytes); Lambda invocations and duration per function (its
configured memory); DynamoDB and SQS requests made by the handlers and by the SQS event-source
pollers (from the requests moto served); Order API requests. Nothing is estimated by hand except
the naive design, which is *derived from the same counts* (see `naive`).

Local durations are in-process Python on this machine, not Lambda's (no cold starts, no network):
read the duration-based lines as a lower bound.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from moto.core.botocore_stubber import BotocoreStubber

from bench import prices
from bench.reference_orders import reference_return, reference_sale, seed_codes, seed_members
from fake_vendor import FakeVendor
from local_cloud.api_client import ApiClient
from local_cloud.cloud import LocalCloud
from local_cloud.run.synth import synthesise
from local_cloud.runtime.accounting import short_name
from loyalty import contract
from loyalty.order_status import ORDER_RECORD, SORT_KEY, STATUS_INDEX_ATTRIBUTES, STATUS_SINCE

_SERVICES = {
    "DynamoDB_20120810": "dynamodb",
    "AmazonSQS": "sqs",
    "AWSEvents": "events",
    "AWSStepFunctions": "states",
    "secretsmanager": "secretsmanager",
}
"""Service names by the ``X-Amz-Target`` prefix of their JSON protocol."""
_DYNAMODB_READS = {"GetItem": 1, "Query": 1, "Scan": 1}
_DYNAMODB_WRITES = {"PutItem": 1, "UpdateItem": 1, "DeleteItem": 1}


def _status_index_writes(operation: str, payload: dict[str, Any]) -> int:
    """The orders table's status index is written with the table (AWS bills its writes too):
    once for a new order record, twice for a write that changes its key (``status`` and
    ``status_since`` change together: the old entry is deleted, the new one put), once for one
    that changes only a projected attribute. Order records are the only ones in the index."""
    indexed = {"status", STATUS_SINCE, *STATUS_INDEX_ATTRIBUTES}
    if operation == "PutItem":
        return 1 if STATUS_SINCE in payload.get("Item", {}) else 0
    if operation != "UpdateItem" or payload.get("Key", {}).get(SORT_KEY) != {"S": ORDER_RECORD}:
        return 0
    # The attributes it SETs, as named in the expression (conditions name ``#c_*``).
    expression = payload.get("UpdateExpression", "")
    names = payload.get("ExpressionAttributeNames", {})
    written = {name for alias, name in names.items() if f"{alias} =" in expression}
    if STATUS_SINCE in written:
        return 2
    return 1 if written & indexed else 0


class RequestCounter:
    """Counts the AWS requests the app makes (inside a Lambda invocation, or by an SQS
    event-source poller), by service and operation, as moto serves them. DynamoDB requests are
    also counted in request units (items of at most 1 KB, which is what this app writes)."""

    def __init__(self) -> None:
        self.requests: Counter[str] = Counter()
        self.dynamodb_units: Counter[str] = Counter()
        self.by_function: Counter[tuple[str, str]] = Counter()
        """Every AWS request a function made, by (function, ``service:Operation``)."""
        self._local = threading.local()
        self._lock = threading.Lock()

    def install(self, cloud: LocalCloud) -> None:
        for function in cloud.functions.values():
            invoke = function.invoke

            def inside(
                event: dict[str, Any],
                invoke: Callable[..., Any] = invoke,
                name: str = function.name,
            ) -> Any:
                self._local.inside = name
                try:
                    return invoke(event)
                finally:
                    self._local.inside = None

            function.invoke = inside  # type: ignore[method-assign]
        original = BotocoreStubber.__call__
        counter = self

        def counting(stubber: BotocoreStubber, event_name: str, request: Any, **kw: Any) -> Any:
            if getattr(
                counter._local, "inside", False
            ) or threading.current_thread().name.startswith("sqs-poller-"):
                counter._count(request)
            return original(stubber, event_name, request, **kw)

        BotocoreStubber.__call__ = counting  # type: ignore[method-assign,assignment]

    def _count(self, request: Any) -> None:
        target = request.headers.get("X-Amz-Target")
        if not target:
            return
        target = target.decode() if isinstance(target, bytes) else str(target)
        prefix, _, operation = target.partition(".")
        caller = getattr(self._local, "inside", None)
        if caller:
            with self._lock:
                self.by_function[(caller, f"{_SERVICES.get(prefix, prefix)}:{operation}")] += 1
        service = {"DynamoDB_20120810": "dynamodb", "AmazonSQS": "sqs"}.get(prefix)
        if service is None:
            return
        with self._lock:
            self.requests[f"{service}:{operation}"] += 1
            if service == "dynamodb":
                self._count_units(operation, request.body)

    def _count_units(self, operation: str, body: Any) -> None:
        if operation in _DYNAMODB_READS:
            self.dynamodb_units["read"] += 1
        elif operation in _DYNAMODB_WRITES:
            self.dynamodb_units["write"] += 1 + _status_index_writes(
                operation, json.loads(body or "{}")
            )
        else:
            payload = json.loads(body or "{}")
            if operation == "BatchWriteItem":
                self.dynamodb_units["write"] += sum(
                    len(v) for v in payload["RequestItems"].values()
                )
            elif operation == "TransactWriteItems":
                self.dynamodb_units["write"] += 2 * len(payload["TransactItems"])
            elif operation == "BatchGetItem":
                self.dynamodb_units["read"] += sum(
                    len(v["Keys"]) for v in payload["RequestItems"].values()
                )

    def snapshot(self) -> tuple[Counter[str], Counter[str]]:
        with self._lock:
            return Counter(self.requests), Counter(self.dynamodb_units)


@dataclass
class OrderUsage:
    """Billable units one order used."""

    name: str
    status: str = ""
    state_transitions: int = 0
    express_requests: int = 0
    express_billed_gb_seconds: float = 0.0
    events: int = 0
    event_bytes: int = 0
    """Bytes the event log received (whole events, and summaries of those with a token)."""
    archive_bytes: int = 0
    """Bytes the archive received: the events without a task token, whole."""
    lambda_invocations: Counter[str] = field(default_factory=Counter)
    lambda_gb_seconds: float = 0.0
    dynamodb_read_units: int = 0
    dynamodb_write_units: int = 0
    sqs_requests: int = 0
    api_requests: int = 0
    log_bytes: int = 0
    waiting_tasks: int = 0

    def dollars(self) -> dict[str, float]:
        """Cost of one order, per service."""
        return {
            "Step Functions Standard": self.state_transitions * prices.STANDARD_PER_TRANSITION,
            "Step Functions Express": self.express_requests * prices.EXPRESS_PER_REQUEST
            + self.express_billed_gb_seconds * prices.EXPRESS_PER_GB_SECOND,
            "EventBridge (events + archive)": self.events * prices.EVENTBRIDGE_PER_EVENT
            + self.archive_bytes / 1e9 * prices.EVENTBRIDGE_ARCHIVE_PER_GB,
            "Lambda": sum(self.lambda_invocations.values()) * prices.LAMBDA_PER_REQUEST
            + self.lambda_gb_seconds * prices.LAMBDA_PER_GB_SECOND_ARM,
            "DynamoDB": self.dynamodb_read_units * prices.DYNAMODB_PER_READ_UNIT
            + self.dynamodb_write_units * prices.DYNAMODB_PER_WRITE_UNIT,
            "SQS": self.sqs_requests * prices.SQS_PER_REQUEST,
            "API Gateway": self.api_requests * prices.API_GATEWAY_REST_PER_REQUEST,
            "CloudWatch Logs": self.log_bytes / 1e9 * prices.CLOUDWATCH_LOGS_PER_GB,
        }


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


def naive(usage: OrderUsage, *, status_states: bool) -> OrderUsage:
    """The seeds' naive designs for the same order, derived from these counts: every step a
    synchronous ``lambda:invoke`` task (the function does the work, vendor calls included, while
    the machine waits); with ``status_states``, also a DynamoDB ``updateItem`` state after each
    step to keep the order status (seed 002's status updates). No step events, no Step Finisher,
    no buffer queue; the same functions do the same work (so the same Lambda duration and table
    requests), each invoked once per step."""
    return OrderUsage(
        name=usage.name,
        status=usage.status,
        state_transitions=usage.state_transitions + (usage.waiting_tasks if status_states else 0),
        events=1,  # order.received still arrives by event
        event_bytes=usage.event_bytes // max(usage.events, 1),
        archive_bytes=usage.archive_bytes,  # the same token-free events
        lambda_invocations=Counter({"steps": usage.waiting_tasks, "starter": 1}),
        lambda_gb_seconds=usage.lambda_gb_seconds,
        dynamodb_read_units=usage.dynamodb_read_units,
        dynamodb_write_units=usage.dynamodb_write_units,
        api_requests=usage.api_requests,
        log_bytes=usage.log_bytes - usage.event_bytes,
        waiting_tasks=0,
    )


def _per_million(usage: OrderUsage) -> dict[str, float]:
    return {service: cost * 1_000_000 for service, cost in usage.dollars().items()}


def _average(runs: list[OrderUsage]) -> OrderUsage:
    first = runs[0]
    n = len(runs)
    total = Counter[str]()
    for run in runs:
        total.update(run.lambda_invocations)
    return OrderUsage(
        name=first.name,
        status="/".join(sorted({r.status for r in runs})),
        state_transitions=round(sum(r.state_transitions for r in runs) / n),
        express_requests=round(sum(r.express_requests for r in runs) / n),
        express_billed_gb_seconds=sum(r.express_billed_gb_seconds for r in runs) / n,
        events=round(sum(r.events for r in runs) / n),
        event_bytes=round(sum(r.event_bytes for r in runs) / n),
        archive_bytes=round(sum(r.archive_bytes for r in runs) / n),
        lambda_invocations=Counter({k: round(v / n) for k, v in total.items()}),
        lambda_gb_seconds=sum(r.lambda_gb_seconds for r in runs) / n,
        dynamodb_read_units=round(sum(r.dynamodb_read_units for r in runs) / n),
        dynamodb_write_units=round(sum(r.dynamodb_write_units for r in runs) / n),
        sqs_requests=round(sum(r.sqs_requests for r in runs) / n),
        api_requests=first.api_requests,
        log_bytes=round(sum(r.log_bytes for r in runs) / n),
        waiting_tasks=first.waiting_tasks,
    )


def print_report(usages: list[OrderUsage]) -> None:
    print("\nUnits per order (average of the runs), counted on the local cloud")
    rows = [
        ("final status", lambda u: u.status),
        ("Standard state transitions", lambda u: u.state_transitions),
        ("  of which waiting tasks", lambda u: u.waiting_tasks),
        ("Express requests (Step Finisher)", lambda u: u.express_requests),
        ("Express billed GB-s", lambda u: f"{u.express_billed_gb_seconds:.4f}"),
        ("events put (custom events)", lambda u: u.events),
        ("event bytes logged / archived", lambda u: f"{u.event_bytes} / {u.archive_bytes}"),
        ("Lambda invocations", lambda u: sum(u.lambda_invocations.values())),
        ("Lambda GB-s (local durations)", lambda u: f"{u.lambda_gb_seconds:.4f}"),
        (
            "DynamoDB read / write units",
            lambda u: f"{u.dynamodb_read_units} / {u.dynamodb_write_units}",
        ),
        ("SQS requests", lambda u: u.sqs_requests),
        ("API Gateway requests", lambda u: u.api_requests),
    ]
    width = 28
    print(f"  {'':<34}" + "".join(f"{u.name:>{width}}" for u in usages))
    for label, value in rows:
        print(f"  {label:<34}" + "".join(f"{value(u)!s:>{width}}" for u in usages))
    print("  Lambda invocations by function:")
    for usage in usages:
        print(
            f"    {usage.name}: "
            + ", ".join(f"{k} {v}" for k, v in sorted(usage.lambda_invocations.items()))
        )

    print(
        f"\nDollars per 1,000,000 orders ({prices.REGION} list prices as of "
        f"{prices.PRICES_AS_OF}, bench/prices.py; naive designs derived from the same counts)"
    )
    for usage in usages:
        ours = _per_million(usage)
        plain = _per_million(naive(usage, status_states=False))
        with_status = _per_million(naive(usage, status_states=True))
        print(f"\n  {usage.name}")
        print(f"    {'service':<32}{'this design':>13}{'naive: invoke':>15}{'+ status states':>17}")
        for service in ours:
            print(
                f"    {service:<32}{ours[service]:>13.2f}{plain[service]:>15.2f}"
                f"{with_status[service]:>17.2f}"
            )
        totals = (sum(ours.values()), sum(plain.values()), sum(with_status.values()))
        print(f"    {'total':<32}{totals[0]:>13.2f}{totals[1]:>15.2f}{totals[2]:>17.2f}")
        print(
            f"    Standard transitions: {usage.state_transitions} here, "
            f"{naive(usage, status_states=False).state_transitions} naive, "
            f"{naive(usage, status_states=True).state_transitions} with status states"
        )


def run(args: argparse.Namespace) -> int:
    print("Synthesising and deploying ...", flush=True)
    with FakeVendor() as vendor, LocalCloud(synthesise(), vendor=vendor) as cloud:
        counter = RequestCounter()
        counter.install(cloud)
        api = cloud.api()
        seed_members(vendor)
        results: dict[str, list[OrderUsage]] = {}
        for run_index in range(args.repeat):
            for name, order, decision in reference_orders(run_index):
                seed_codes(vendor, order)
                usage = measure(cloud, api, counter, name, order, decision)
                results.setdefault(name, []).append(usage)
                print(
                    f"  {order['order_reference']:<18} {usage.status:<10} "
                    f"{usage.state_transitions} transitions",
                    flush=True,
                )
    print_report([_average(runs) for runs in results.values()])
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cost", description=__doc__)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each reference order")
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())

"""Counts the AWS requests the app makes on the local cloud, as moto serves them: what
`bench.cost` prices for DynamoDB and SQS, and what `bench.mediator` reads per vendor request."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

from moto.core.botocore_stubber import BotocoreStubber

from local_cloud.cloud import LocalCloud
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

"""Per-order accounting of Lambda work on the local cloud, for the run report and the cost
benchmark. AWS bills invocations and GB-seconds per function; here every invocation is also
attributed to the orders its event names (an SQS batch of k orders counts 1/k for each), so a
run can say what one order cost. Not an emulation of anything AWS does: bookkeeping only.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from local_cloud.runtime.lambda_runtime import LocalFunction


def order_references(event: Any) -> list[str]:
    """The orders an invocation's event is about: an EventBridge event (``order_reference`` or
    ``data.loyalty_order_reference``), an SQS batch of such events, or an API Gateway request
    (the path's ``reference`` or the posted order's)."""
    if not isinstance(event, dict):
        return []
    if isinstance(event.get("Records"), list):
        found: list[str] = []
        for record in event["Records"]:
            found += order_references(_json(record.get("body")))
        return found
    if "httpMethod" in event:
        reference = (event.get("pathParameters") or {}).get("reference")
        if reference is None:
            reference = _dict(_json(event.get("body"))).get("order_reference")
        return [reference] if isinstance(reference, str) else []
    detail = _dict(event.get("detail"))
    reference = detail.get("order_reference") or _dict(detail.get("data")).get(
        "loyalty_order_reference"
    )
    return [reference] if isinstance(reference, str) else []


def _json(text: Any) -> Any:
    try:
        return json.loads(text) if isinstance(text, str) else None
    except ValueError:
        return None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


@dataclass
class OrderInvocations:
    invocations: float = 0.0
    gb_seconds: float = 0.0
    by_function: dict[str, float] = field(default_factory=lambda: defaultdict(float))


class InvocationLedger:
    """Counts every invocation of the functions it is attached to, per order."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._orders: dict[str, OrderInvocations] = defaultdict(OrderInvocations)

    def attach(self, function: LocalFunction) -> None:
        invoke = function.invoke

        def counted(event: dict[str, Any]) -> Any:
            started = time.perf_counter()
            try:
                return invoke(event)
            finally:
                self._record(function, event, time.perf_counter() - started)

        function.invoke = counted  # type: ignore[method-assign]

    def _record(self, function: LocalFunction, event: Any, seconds: float) -> None:
        references = order_references(event)
        if not references:
            return
        share = 1 / len(references)
        with self._lock:
            for reference in references:
                account = self._orders[reference]
                account.invocations += share
                account.gb_seconds += share * seconds * function.memory_mb / 1024
                account.by_function[short_name(function.name)] += share

    def of(self, order_reference: str) -> OrderInvocations:
        with self._lock:
            return self._orders.get(order_reference) or OrderInvocations()

    def __iter__(self) -> Iterator[str]:
        with self._lock:
            return iter(list(self._orders))


def short_name(name: str) -> str:
    """``LoyaltyOrderProcessing-StoreOrderWorker489D081A-HYYSHFTA`` → ``StoreOrderWorker``."""
    logical_id = name.split("-")[1] if name.count("-") >= 2 else name
    return re.sub(r"[0-9A-F]{7,8}$", "", logical_id)

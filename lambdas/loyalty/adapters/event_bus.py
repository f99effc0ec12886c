"""Putting events on the bus, without losing any.

``PutEvents`` answers 200 even when some entries fail (``FailedEntryCount`` > 0), accepts at most
10 entries per call, and throttles under load. This publisher sends in batches of 10, retries only
the failed entries with capped exponential backoff and jitter, and raises if any entry is still
failing, so the caller's Lambda invocation fails and is retried instead of silently dropping an
answer that a waiting execution needs.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

MAX_ENTRIES_PER_CALL: Final = 10
MAX_DETAIL_BYTES: Final = 256 * 1024
"""Step Functions caps task input/output at 256 KB, so anything that resumes a task must fit."""


@dataclass(frozen=True)
class OutgoingEvent:
    detail_type: str
    detail: dict[str, Any]
    resources: tuple[str, ...] = ()
    """ARNs the event is about (the envelope's ``resources``; e.g. the execution a vendor answer
    is for)."""


class EventPublishError(RuntimeError):
    """Some entries could not be put after all retries."""


class EventBusPublisher:
    def __init__(
        self,
        *,
        client: Any,
        bus_name: str,
        source: str,
        max_attempts: int = 4,
        base_delay_seconds: float = 0.05,
        max_delay_seconds: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._client = client
        self._bus_name = bus_name
        self._source = source
        self._max_attempts = max_attempts
        self._base_delay = base_delay_seconds
        self._max_delay = max_delay_seconds
        self._sleep = sleep

    @property
    def source(self) -> str:
        return self._source

    def publish(self, events: Sequence[OutgoingEvent]) -> None:
        entries = [self._entry(event) for event in events]
        for start in range(0, len(entries), MAX_ENTRIES_PER_CALL):
            self._put_batch(entries[start : start + MAX_ENTRIES_PER_CALL])

    def _entry(self, event: OutgoingEvent) -> dict[str, Any]:
        detail = json.dumps(event.detail, separators=(",", ":"), default=str)
        if len(detail.encode()) > MAX_DETAIL_BYTES:
            raise EventPublishError(
                f"{event.detail_type} detail is {len(detail.encode())} bytes; the limit for "
                f"anything that resumes a task is {MAX_DETAIL_BYTES} bytes"
            )
        entry: dict[str, Any] = {
            "EventBusName": self._bus_name,
            "Source": self._source,
            "DetailType": event.detail_type,
            "Detail": detail,
        }
        if event.resources:
            entry["Resources"] = list(event.resources)
        return entry

    def _put_batch(self, entries: list[dict[str, Any]]) -> None:
        pending = entries
        errors: list[str] = []
        for attempt in range(self._max_attempts):
            if attempt:
                cap = min(self._max_delay, self._base_delay * 2**attempt)
                self._sleep(random.uniform(0, cap))  # noqa: S311 - jitter, not crypto
            response = self._client.put_events(Entries=pending)
            if not response.get("FailedEntryCount"):
                return
            results = response["Entries"]
            errors = [
                f"{r.get('ErrorCode')}: {r.get('ErrorMessage')}"
                for r in results
                if "ErrorCode" in r
            ]
            pending = [e for e, r in zip(pending, results, strict=True) if "ErrorCode" in r]
        raise EventPublishError(
            f"{len(pending)} event(s) not put after {self._max_attempts} attempts: "
            + "; ".join(sorted(set(errors)))
        )

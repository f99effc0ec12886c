"""Asynchronous invocations (what EventBridge does) follow Lambda's documented semantics and timing
(https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-error-handling.html): a failed
attempt is retried ``MaximumRetryAttempts`` times (0-2), one minute after the first attempt failed
and two minutes after the second; an event older than ``MaximumEventAgeInSeconds`` when its retry
is due is not run. Either way the event then goes to the on-failure destination as Lambda's
invocation record (``condition`` ``RetriesExhausted`` or ``EventAgeExceeded``). Every duration is
multiplied by the invoker's ``time_scale`` (1.0: AWS's timing; a test may pass 1/30 to play a
minute in two seconds). Retries wait on a scheduler, not on the thread that delivered the event.
"""

from __future__ import annotations

import heapq
import itertools
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from local_cloud.runtime.lambda_runtime.function import LocalFunction

LOG = logging.getLogger(__name__)


MAX_RETRY_ATTEMPTS = 2
MIN_EVENT_AGE_SECONDS = 60
MAX_EVENT_AGE_SECONDS = 21600


@dataclass
class AsyncConfig:
    """A function's event invoke config, with Lambda's defaults and limits."""

    retry_attempts: int = MAX_RETRY_ATTEMPTS
    max_event_age_seconds: int = MAX_EVENT_AGE_SECONDS
    on_failure_arn: str | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.retry_attempts <= MAX_RETRY_ATTEMPTS:
            raise ValueError(f"MaximumRetryAttempts {self.retry_attempts} is not in 0-2")
        if not MIN_EVENT_AGE_SECONDS <= self.max_event_age_seconds <= MAX_EVENT_AGE_SECONDS:
            raise ValueError(
                f"MaximumEventAgeInSeconds {self.max_event_age_seconds} is not in 60-21600"
            )


class Activity:
    """Work in progress, counted, that can be waited for: the event router's deliveries and the
    invoker's scheduled retries share one, so "nothing in flight" is one reading, never two."""

    def __init__(self) -> None:
        self._count = 0
        self._changed = threading.Condition()

    def begin(self) -> None:
        with self._changed:
            self._count += 1

    def end(self) -> None:
        with self._changed:
            self._count -= 1
            if self._count == 0:
                self._changed.notify_all()

    @property
    def count(self) -> int:
        return self._count

    def wait_idle(self, timeout: float) -> bool:
        """Wait until nothing is in progress. Returns False on timeout."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while self._count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._changed.wait(remaining)
        return True


RETRY_DELAYS_SECONDS = (60.0, 120.0)
"""Lambda's waits after a failed asynchronous attempt: before the second attempt, the third."""


@dataclass
class _AcceptedEvent:
    """An asynchronous invocation Lambda accepted, across its attempts."""

    function: LocalFunction
    event: dict[str, Any]
    accepted_at: float
    """``time.monotonic()`` when Lambda accepted it: its age counts from here."""
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    attempts: int = 0
    error: Exception | None = None


class AsyncInvoker:
    """Lambda's event (asynchronous) invocation: retries at Lambda's times (scaled by
    ``time_scale``), the maximum event age, then the on-failure destination.

    The first attempt runs on the caller's thread (the router's delivery thread, as it is the
    moment Lambda takes the event); a retry waits on the invoker's scheduler and runs on a thread
    of its own, so no delivery thread is held while a retry is pending. Scheduled and running
    retries count in ``activity`` (and ``pending``) until they end."""

    def __init__(
        self,
        *,
        send_to_queue: Callable[[str, str], None],
        time_scale: float = 1.0,
        activity: Activity | None = None,
    ) -> None:
        if time_scale <= 0:
            raise ValueError(f"time_scale must be positive, not {time_scale}")
        self._send_to_queue = send_to_queue
        self.time_scale = time_scale
        self.activity = activity or Activity()
        self._lock = threading.Condition()
        self._due: list[tuple[float, int, _AcceptedEvent]] = []  # a heap, soonest first
        self._sequence = itertools.count()
        self._running: set[threading.Thread] = set()
        self._scheduler: threading.Thread | None = None
        self._stopped = False

    @property
    def pending(self) -> int:
        """Retries waiting for their time or running."""
        with self._lock:
            return len(self._due) + len(self._running)

    def invoke(self, function: LocalFunction, event: dict[str, Any]) -> bool:
        """Lambda accepts ``event`` for ``function`` and makes the first attempt now. Returns
        whether it succeeded; if not, a retry is scheduled or the event is given up on."""
        return self._attempt(_AcceptedEvent(function, event, accepted_at=time.monotonic()))

    def stop(self, timeout: float = 10) -> None:
        """Cancel the retries that have not started (they are neither run nor sent anywhere: the
        cloud is going away) and wait for the running ones."""
        with self._lock:
            self._stopped = True
            cancelled = len(self._due)
            self._due.clear()
            self._lock.notify_all()
            scheduler, running = self._scheduler, list(self._running)
        for _ in range(cancelled):
            self.activity.end()
        if cancelled:
            LOG.info("%d pending Lambda retries cancelled", cancelled)
        if scheduler is not None:
            scheduler.join(timeout)
        for thread in running:
            thread.join(timeout)

    def _attempt(self, accepted: _AcceptedEvent) -> bool:
        function = accepted.function
        try:
            function.invoke(accepted.event)
            return True
        except Exception as err:
            accepted.attempts += 1
            accepted.error = err
        if accepted.attempts <= function.async_config.retry_attempts:
            delay = RETRY_DELAYS_SECONDS[accepted.attempts - 1] * self.time_scale
            self._schedule(accepted, delay)
        else:
            self._give_up(accepted, "RetriesExhausted")
        return False

    def _schedule(self, accepted: _AcceptedEvent, delay: float) -> None:
        with self._lock:
            if self._stopped:
                LOG.info("%s: retry not scheduled, the cloud is stopping", accepted.function.name)
                return
            self.activity.begin()
            heapq.heappush(self._due, (time.monotonic() + delay, next(self._sequence), accepted))
            if self._scheduler is None:
                self._scheduler = threading.Thread(
                    target=self._schedule_loop, name="lambda-async-retries", daemon=True
                )
                self._scheduler.start()
            self._lock.notify_all()

    def _schedule_loop(self) -> None:
        with self._lock:
            while not self._stopped:
                if not self._due:
                    self._lock.wait()
                    continue
                wait = self._due[0][0] - time.monotonic()
                if wait > 0:
                    self._lock.wait(wait)
                    continue
                _, _, accepted = heapq.heappop(self._due)
                thread = threading.Thread(
                    target=self._retry,
                    args=(accepted,),
                    name=f"lambda-retry-{accepted.function.name}",
                    daemon=True,
                )
                self._running.add(thread)
                thread.start()

    def _retry(self, accepted: _AcceptedEvent) -> None:
        function = accepted.function
        try:
            age = time.monotonic() - accepted.accepted_at
            if age > function.async_config.max_event_age_seconds * self.time_scale:
                self._give_up(accepted, "EventAgeExceeded")
            else:
                with function._lock:
                    function.stats.async_retries += 1
                self._attempt(accepted)
        except Exception:  # the retry thread must not die silently
            LOG.exception("%s: retry failed", function.name)
        finally:
            with self._lock:
                self._running.discard(threading.current_thread())
            self.activity.end()

    def _give_up(self, accepted: _AcceptedEvent, condition: str) -> None:
        function = accepted.function
        with function._lock:
            function.stats.async_failures += 1
            function.stats.async_expired += int(condition == "EventAgeExceeded")
        destination = function.async_config.on_failure_arn
        if destination is None:
            LOG.warning(
                "%s: event dropped (%s after %d attempts): %s",
                function.name,
                condition,
                accepted.attempts,
                accepted.error,
            )
            return
        self._send_to_queue(
            destination, json.dumps(invocation_record(accepted, condition), default=str)
        )


def invocation_record(accepted: _AcceptedEvent, condition: str) -> dict[str, Any]:
    """Lambda's invocation record for an event it gave up on, as sent to an on-failure
    destination (https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html).
    The response is the last attempt's."""
    now = datetime.now(UTC)
    error = accepted.error
    return {
        "version": "1.0",
        "timestamp": now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z",
        "requestContext": {
            "requestId": accepted.request_id,
            "functionArn": f"{accepted.function.arn}:$LATEST",
            "condition": condition,
            "approximateInvokeCount": accepted.attempts,
        },
        "requestPayload": accepted.event,
        "responseContext": {
            "statusCode": 200,
            "executedVersion": "$LATEST",
            "functionError": "Unhandled",
        },
        "responsePayload": {
            "errorType": type(error).__name__,
            "errorMessage": str(error),
        },
    }

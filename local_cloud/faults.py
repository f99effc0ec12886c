"""Fault injection for the fault suite: crashed or stalled function invocations, refused
``PutEvents`` calls of state machine tasks."""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from local_cloud.resources import CloudResources
from local_cloud.runtime import moto_patches


class InjectedCrashError(RuntimeError):
    """An injected crash (``LocalCloud.function_fault``)."""


class FaultInjection(CloudResources):
    """Faults a test switches on for the length of a ``with`` block."""

    @contextlib.contextmanager
    def function_fault(
        self,
        logical_prefix: str,
        *,
        times: int,
        stall_seconds: float = 0.0,
        after: bool = False,
        when: Callable[[dict[str, Any]], bool] = lambda event: True,
    ) -> Iterator[list[dict[str, Any]]]:
        """Fault injection for the fault suite: the next ``times`` invocations of a function whose
        event satisfies ``when`` crash before the handler runs (``InjectedCrashError``, as when an
        execution environment dies), or, with ``after``, crash once the handler has done its work
        (its answer went out, then the invocation failed: Lambda retries it later), or, with
        ``stall_seconds``, run only after that long (an environment that stalls, so its answer
        comes late). Yields the events it affected; the function is itself again when the block
        ends."""
        function = self.function(logical_prefix)
        invoke = function.invoke
        affected: list[dict[str, Any]] = []
        lock = threading.Lock()

        def faulty(event: dict[str, Any]) -> Any:
            with lock:
                hit = len(affected) < times and when(event)
                if hit:
                    affected.append(event)
            if hit and stall_seconds:
                time.sleep(stall_seconds)
            elif hit and after:
                invoke(event)
                raise InjectedCrashError(f"{function.name}: injected crash after the handler")
            elif hit:
                raise InjectedCrashError(f"{function.name}: injected crash {len(affected)}/{times}")
            return invoke(event)

        function.invoke = faulty  # type: ignore[method-assign]
        try:
            yield affected
        finally:
            function.invoke = invoke  # type: ignore[method-assign]

    @staticmethod
    @contextlib.contextmanager
    def state_machine_put_events_fault(
        *,
        times: int | None = None,
        rate: float | None = None,
        seed: int | None = None,
        error_code: str = "ThrottlingException",
    ) -> Iterator[list[dict[str, Any]]]:
        """Fault injection for the fault suite: EventBridge refuses the ``PutEvents`` calls of
        state machine tasks (the ASL engine's ``events:putEvents`` integration; the handlers'
        and tests' ``put_events`` are never refused). Refused are the first ``times`` calls; or,
        with ``rate``, each call with that probability (drawn from ``random.Random(seed)``); or,
        with both, each call with probability ``rate`` until ``times`` were refused. A refused
        call puts nothing and is answered as EventBridge answers entries it throttles: every
        entry failed with ``error_code`` (message ``Rate exceeded`` for ``ThrottlingException``,
        else the code), ``FailedEntryCount`` their number; the task then fails with
        ``EventBridge.FailedEntry``, which its ``Retry``/``Catch`` may handle. Yields the refused
        entries, in order (``len`` is the count; each has its ``DetailType``). With several
        executions at once, which calls a ``rate`` refuses depends on their interleaving.

        Process-wide, like moto itself (so a static method: a test of moto alone can use it)."""
        if times is None and rate is None:
            raise ValueError("give times, rate or both")
        if times is not None and times < 0:
            raise ValueError(f"times must not be negative, not {times}")
        if rate is not None and not 0 <= rate <= 1:
            raise ValueError(f"rate must be between 0 and 1, not {rate}")
        message = "Rate exceeded" if error_code == "ThrottlingException" else error_code
        draw = random.Random(seed)
        refused: list[dict[str, Any]] = []
        lock = threading.Lock()
        calls_refused = 0

        def refuse(entries: list[dict[str, Any]]) -> dict[str, Any] | None:
            nonlocal calls_refused
            with lock:
                if times is not None and calls_refused >= times:
                    return None
                if rate is not None and draw.random() >= rate:
                    return None
                calls_refused += 1
                refused.extend(entries)
            return {
                "FailedEntryCount": len(entries),
                "Entries": [{"ErrorCode": error_code, "ErrorMessage": message} for _ in entries],
                "ResponseMetadata": {"HTTPStatusCode": 200},
            }

        with moto_patches.intercept_state_machine_put_events(refuse):
            yield refused

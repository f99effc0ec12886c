"""The in-process Lambda runtime keeps Lambda's isolation: an execution environment per
concurrent invocation, and each function's environment variables only for that function. Its
asynchronous invocations keep Lambda's retry timing (scaled), maximum event age and invocation
records, without holding the event router's delivery threads."""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from local_cloud.runtime.event_router import EventRouter
from local_cloud.runtime.lambda_runtime import (
    AsyncConfig,
    AsyncInvoker,
    FunctionLogSink,
    LocalFunction,
)

HANDLER = """
import os, threading, time

CONFIGURED = os.environ["GREETING"]  # read at cold start, like the project's handlers
STATE = {"busy": False}


def handler(event, context):
    # module state that is only safe when one invocation at a time uses this module instance
    assert not STATE["busy"], "two invocations shared an execution environment"
    STATE["busy"] = True
    time.sleep(0.05)
    STATE["busy"] = False
    print(f"{CONFIGURED} {event['n']}")
    return {"greeting": CONFIGURED, "now": os.environ["GREETING"], "id": id(STATE)}
"""


def function(tmp_path: Path, name: str, greeting: str) -> LocalFunction:
    (tmp_path / "greeter.py").write_text(HANDLER)
    return LocalFunction(
        name=name,
        arn=f"arn:aws:lambda:us-east-1:123456789012:function:{name}",
        handler="greeter.handler",
        environment={"GREETING": greeting},
        timeout_seconds=5,
        memory_mb=128,
        code_dir=tmp_path,
        log_sink=FunctionLogSink(None),
    )


def test_concurrent_invocations_get_their_own_execution_environments(tmp_path: Path) -> None:
    hello = function(tmp_path, "hello", "hello")
    results: list[dict[str, object]] = []

    threads = [
        threading.Thread(target=lambda n=n: results.append(hello.invoke({"n": n})))
        for n in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(results) == 4
    assert hello.stats.errors == 0
    assert 2 <= hello.stats.cold_starts <= 4
    assert len({r["id"] for r in results}) == hello.stats.cold_starts
    assert sorted(hello.log_sink.lines) == [f"hello {n}" for n in range(4)]


def test_warm_invocations_reuse_the_environment(tmp_path: Path) -> None:
    hello = function(tmp_path, "hello", "hello")
    first = hello.invoke({"n": 1})
    second = hello.invoke({"n": 2})
    assert first["id"] == second["id"]
    assert hello.stats.cold_starts == 1


def test_each_function_sees_only_its_own_environment(tmp_path: Path) -> None:
    hello = function(tmp_path, "hello", "hello")
    bonjour = function(tmp_path, "bonjour", "bonjour")

    assert hello.invoke({"n": 1})["now"] == "hello"
    assert bonjour.invoke({"n": 1})["now"] == "bonjour"
    assert "GREETING" not in os.environ  # the process environment never changed


def test_a_failing_cold_start_is_an_invocation_error_in_the_log(tmp_path: Path) -> None:
    broken = function(tmp_path, "broken", "x")
    broken.environment = {}  # GREETING missing: the module raises at import

    with pytest.raises(KeyError):
        broken.invoke({"n": 1})
    assert broken.stats.errors == 1
    assert any("KeyError" in line for line in broken.log_sink.lines)


# -- asynchronous invocation: Lambda's retry timing, scaled -------------------------------------

FAILING = """
def handler(event, context):
    raise RuntimeError(f"boom {event['n']}")
"""

SUCCEEDING = """
def handler(event, context):
    return {"n": event["n"]}
"""

TARGET_RULE = "arn:aws:events:us-east-1:123456789012:rule/test"
ON_FAILURE = "arn:aws:sqs:us-east-1:123456789012:on-failure"


def plain_function(tmp_path: Path, name: str, code: str, **async_config: Any) -> LocalFunction:
    (tmp_path / f"{name}.py").write_text(code)
    return LocalFunction(
        name=name,
        arn=f"arn:aws:lambda:us-east-1:123456789012:function:{name}",
        handler=f"{name}.handler",
        environment={},
        timeout_seconds=5,
        memory_mb=128,
        code_dir=tmp_path,
        log_sink=FunctionLogSink(None),
        async_config=AsyncConfig(on_failure_arn=ON_FAILURE, **async_config),
    )


def timed(function: LocalFunction) -> list[tuple[int, float]]:
    """Record when each attempt starts: (the event's ``n``, ``time.monotonic()``)."""
    starts: list[tuple[int, float]] = []
    invoke = function.invoke

    def recorded(event: dict[str, Any]) -> Any:
        starts.append((event["n"], time.monotonic()))
        return invoke(event)

    function.invoke = recorded  # type: ignore[method-assign]
    return starts


def wait_until(condition: Callable[[], bool], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


@contextlib.contextmanager
def router(
    functions: list[LocalFunction], invoker: AsyncInvoker, workers: int = 1
) -> Iterator[EventRouter]:
    events_router = EventRouter(
        functions={f.arn: f for f in functions},
        invoker=invoker,
        start_execution=lambda arn, payload: None,
        send_to_queue=lambda arn, body: None,
        workers=workers,
    )
    events_router.install()
    try:
        yield events_router
    finally:
        events_router.uninstall()


def deliver(events_router: EventRouter, function: LocalFunction, n: int) -> None:
    events_router.submit(TARGET_RULE, {"Id": "t", "Arn": function.arn}, {"n": n})


def test_retries_wait_one_then_two_scaled_minutes_without_holding_a_delivery_thread(
    tmp_path: Path,
) -> None:
    scale = 1 / 200  # a minute in 0.3 s
    failing = plain_function(tmp_path, "failing", FAILING)
    succeeding = plain_function(tmp_path, "succeeding", SUCCEEDING)
    failing_starts, succeeding_starts = timed(failing), timed(succeeding)
    records: list[dict[str, Any]] = []
    invoker = AsyncInvoker(
        send_to_queue=lambda arn, body: records.append(json.loads(body)), time_scale=scale
    )

    with router([failing, succeeding], invoker, workers=1) as events_router:
        deliver(events_router, failing, 1)
        wait_until(lambda: failing.stats.errors == 1)
        # The only delivery thread is free while the retry waits: another event goes through.
        deliver(events_router, succeeding, 2)
        wait_until(lambda: succeeding.stats.invocations == 1)
        assert events_router.wait_idle(timeout=10)

    (first, second, third) = [at for _, at in failing_starts]
    ((_, other),) = succeeding_starts
    assert first < other < second  # delivered during the first wait
    assert second - first >= 60 * scale
    assert third - second >= 120 * scale
    assert (failing.stats.invocations, failing.stats.async_retries) == (3, 2)
    assert (failing.stats.async_failures, failing.stats.async_expired) == (1, 0)
    (record,) = records
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 3
    assert record["requestContext"]["functionArn"] == f"{failing.arn}:$LATEST"
    assert record["requestPayload"] == {"n": 1}
    assert record["responseContext"] == {
        "statusCode": 200,
        "executedVersion": "$LATEST",
        "functionError": "Unhandled",
    }
    assert record["responsePayload"] == {"errorType": "RuntimeError", "errorMessage": "boom 1"}


def test_a_pending_retry_counts_as_in_flight_until_it_ran(tmp_path: Path) -> None:
    failing = plain_function(tmp_path, "failing", FAILING, retry_attempts=1)
    invoker = AsyncInvoker(send_to_queue=lambda arn, body: None, time_scale=0.5 / 60)

    with router([failing], invoker) as events_router:
        deliver(events_router, failing, 1)
        wait_until(lambda: failing.stats.errors == 1)
        wait_until(lambda: events_router.deliveries == 0)

        assert (events_router.pending_retries, events_router.in_flight) == (1, 1)
        assert not events_router.wait_idle(timeout=0.1)  # the retry is due in 0.5 s
        assert events_router.wait_idle(timeout=10)
        assert (failing.stats.invocations, failing.stats.async_failures) == (2, 1)
        assert (events_router.pending_retries, events_router.in_flight) == (0, 0)


def test_an_event_older_than_its_maximum_age_is_not_retried(tmp_path: Path) -> None:
    scale = 1 / 300  # retries after 0.2 s and 0.4 s more; events expire after 0.4 s
    failing = plain_function(tmp_path, "failing", FAILING, max_event_age_seconds=120)
    records: list[dict[str, Any]] = []
    invoker = AsyncInvoker(
        send_to_queue=lambda arn, body: records.append(json.loads(body)), time_scale=scale
    )

    assert invoker.invoke(failing, {"n": 7}) is False
    assert invoker.activity.wait_idle(timeout=10)

    # The second attempt (at 0.2 s) ran; the third (due at 0.6 s) was past the 0.4 s maximum.
    assert (failing.stats.invocations, failing.stats.async_retries) == (2, 1)
    assert (failing.stats.async_failures, failing.stats.async_expired) == (1, 1)
    (record,) = records
    assert record["requestContext"]["condition"] == "EventAgeExceeded"
    assert record["requestContext"]["approximateInvokeCount"] == 2
    assert record["requestPayload"] == {"n": 7}
    assert record["responsePayload"]["errorMessage"] == "boom 7"  # the last attempt's


def test_no_retry_with_maximum_retry_attempts_zero(tmp_path: Path) -> None:
    failing = plain_function(tmp_path, "failing", FAILING, retry_attempts=0)
    records: list[dict[str, Any]] = []
    invoker = AsyncInvoker(send_to_queue=lambda arn, body: records.append(json.loads(body)))

    assert invoker.invoke(failing, {"n": 1}) is False

    assert (invoker.pending, invoker.activity.count) == (0, 0)  # given up on at once
    assert failing.stats.invocations == 1
    (record,) = records
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 1


def test_a_succeeding_retry_sends_no_record(tmp_path: Path) -> None:
    flaky = plain_function(tmp_path, "flaky", SUCCEEDING)
    invoke = flaky.invoke
    calls: list[int] = []

    def fails_once(event: dict[str, Any]) -> Any:
        calls.append(event["n"])
        if len(calls) == 1:
            raise RuntimeError("first attempt")
        return invoke(event)

    flaky.invoke = fails_once  # type: ignore[method-assign]
    records: list[str] = []
    invoker = AsyncInvoker(send_to_queue=lambda arn, body: records.append(body), time_scale=1e-3)

    assert invoker.invoke(flaky, {"n": 1}) is False
    assert invoker.activity.wait_idle(timeout=10)
    assert calls == [1, 1]  # the same event, again
    assert (records, flaky.stats.async_failures) == ([], 0)


def test_stopping_cancels_pending_retries(tmp_path: Path) -> None:
    failing = plain_function(tmp_path, "failing", FAILING)
    records: list[str] = []
    invoker = AsyncInvoker(send_to_queue=lambda arn, body: records.append(body))  # AWS timing

    invoker.invoke(failing, {"n": 1})
    assert invoker.pending == 1
    started = time.monotonic()
    invoker.stop()

    assert time.monotonic() - started < 5  # not a minute
    assert (invoker.pending, invoker.activity.count) == (0, 0)
    assert records == [] and failing.stats.invocations == 1


@pytest.mark.parametrize(
    "settings",
    [
        {"retry_attempts": 3},
        {"retry_attempts": -1},
        {"max_event_age_seconds": 59},
        {"max_event_age_seconds": 21601},
    ],
)
def test_async_config_outside_lambdas_limits_is_refused(settings: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        AsyncConfig(**settings)

"""The event router retries a state machine target that Step Functions throttles, as EventBridge
does: later, with backoff, within the target's retry policy, and only then to its dead-letter
queue; any other refusal keeps the brief retries it had."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from local_cloud.runtime.event_router import EventRouter
from local_cloud.runtime.lambda_runtime import AsyncInvoker

MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:finisher"
DLQ = "arn:aws:sqs:us-east-1:123456789012:finisher-dlq"
RULE = "arn:aws:events:us-east-1:123456789012:rule/answers"


def refusing(code: str, times: int) -> tuple[Callable[[str, str], None], list[float]]:
    """A StartExecution refused ``times`` times with ``code``; the attempts' times."""
    attempts: list[float] = []
    lock = threading.Lock()

    def start_execution(arn: str, payload: str) -> None:
        with lock:
            attempts.append(time.monotonic())
            if len(attempts) <= times:
                raise ClientError({"Error": {"Code": code, "Message": "Rate exceeded"}}, "Start")

    return start_execution, attempts


@pytest.fixture
def dead_letters() -> list[dict[str, Any]]:
    return []


@contextlib.contextmanager
def routed(
    start_execution: Callable[[str, str], None], dead_letters: list[dict[str, Any]]
) -> Iterator[EventRouter]:
    events_router = EventRouter(
        functions={},
        invoker=AsyncInvoker(send_to_queue=lambda arn, body: None),
        start_execution=start_execution,
        send_to_queue=lambda arn, body: dead_letters.append(json.loads(body)),
        workers=1,
        time_scale=1 / 100,  # backoff of 1 s, 2 s, 4 s ... in hundredths
    )
    events_router.install()
    try:
        yield events_router
    finally:
        events_router.uninstall()


def target(**retry_policy: int) -> dict[str, Any]:
    found: dict[str, Any] = {"Id": "t", "Arn": MACHINE, "DeadLetterConfig": {"Arn": DLQ}}
    if retry_policy:
        found["RetryPolicy"] = retry_policy
    return found


def test_a_throttled_start_is_retried_later_until_it_is_delivered(
    dead_letters: list[dict[str, Any]],
) -> None:
    start_execution, attempts = refusing("ThrottlingException", times=5)

    with routed(start_execution, dead_letters) as events_router:
        events_router.submit(RULE, target(), {"id": "e1"})
        assert events_router.wait_idle(timeout=10)
        assert (events_router.delivered["states"], events_router.throttled_retries) == (1, 5)

    assert len(attempts) == 6
    assert dead_letters == []


def test_the_target_retry_policy_bounds_the_throttled_retries(
    dead_letters: list[dict[str, Any]],
) -> None:
    start_execution, attempts = refusing("ThrottlingException", times=10)

    with routed(start_execution, dead_letters) as events_router:
        events_router.submit(RULE, target(MaximumRetryAttempts=2), {"id": "e1"})
        assert events_router.wait_idle(timeout=10)

    assert len(attempts) == 3
    (letter,) = dead_letters
    assert letter["_delivery_error"]["ERROR_CODE"] == "ClientError"


def test_other_refusals_keep_their_brief_retries(dead_letters: list[dict[str, Any]]) -> None:
    start_execution, attempts = refusing("StateMachineDoesNotExist", times=10)

    with routed(start_execution, dead_letters) as events_router:
        events_router.submit(RULE, target(), {"id": "e1"})
        assert events_router.wait_idle(timeout=10)
        assert events_router.throttled_retries == 0

    assert len(attempts) == 3  # one attempt and two brief retries, as before
    assert len(dead_letters) == 1

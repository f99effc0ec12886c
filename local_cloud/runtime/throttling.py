"""AWS's API throttling on the local cloud: per-API token buckets, off unless asked for.

On AWS the quotas that bind a burst of orders are token buckets per account and Region: Step
Functions' ``StartExecution`` (Standard and Express apart), ``SendTaskSuccess`` /
``SendTaskFailure`` / ``SendTaskHeartbeat`` and its Standard ``StateTransition`` bucket;
EventBridge's ``PutEvents`` (docs/capacity.md has the figures and sources). moto has none of them.
A ``Throttler`` gives the chosen APIs buckets (a simulation scales AWS's figures down) and answers
a call that finds its bucket empty the way AWS does: HTTP 400 ``ThrottlingException``, message
``Rate exceeded`` (the common error of both services' API references). It answers at the place
moto answers (moto's ``BotocoreStubber``, once per HTTP attempt), so every caller sees what it
would see on AWS and reacts with its own means: boto3's retry handler in the functions, a
``Retry`` rule in a state machine's task (its clients make one attempt), EventBridge's retry
policy in the event router. Every caller is counted: the functions, the ASL engine's service
integrations (the order machine's ``events:putEvents`` tasks, the Step Finisher's
``sendTaskSuccess``) and the router's ``StartExecution`` of a rule's state machine target.

State transitions are not refused but delayed, as Step Functions does (``ExecutionThrottled``):
a Standard execution entering a state, or retrying one, waits for a token of the
``StateTransition`` bucket. Express executions have no transition bucket.

Process-wide, like moto: one throttler at a time (``install``/``uninstall``). With no bucket for
an API its calls are counted and never refused, so an empty throttler measures calls per order.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from moto.core.botocore_stubber import BotocoreStubber, MockRawResponse
from moto.stepfunctions.parser.asl.component.common.retry.retry_outcome import RetryOutcome
from moto.stepfunctions.parser.asl.component.state.exec.execute_state import ExecutionState
from moto.stepfunctions.parser.asl.component.state.state import CommonStateField

START_EXECUTION_STANDARD = "StartExecution (Standard)"
START_EXECUTION_EXPRESS = "StartExecution (Express)"
SEND_TASK_SUCCESS = "SendTaskSuccess"
SEND_TASK_FAILURE = "SendTaskFailure"
SEND_TASK_HEARTBEAT = "SendTaskHeartbeat"
PUT_EVENTS = "PutEvents"
STATE_TRANSITION = "StateTransition (Standard)"
REFUSABLE = (
    START_EXECUTION_STANDARD,
    START_EXECUTION_EXPRESS,
    SEND_TASK_SUCCESS,
    SEND_TASK_FAILURE,
    SEND_TASK_HEARTBEAT,
    PUT_EVENTS,
)
"""The APIs whose excess calls are refused; ``STATE_TRANSITION`` is delayed instead."""

THROTTLING_ERROR = "ThrottlingException"
THROTTLING_MESSAGE = "Rate exceeded"
THROTTLING_STATUS = 400

# X-Amz-Target of the calls that draw from a bucket (JSON protocol: the operation is named there).
_TARGETS = {
    "AWSStepFunctions.StartExecution": None,  # Standard or Express: by the machine's type
    "AWSStepFunctions.SendTaskSuccess": SEND_TASK_SUCCESS,
    "AWSStepFunctions.SendTaskFailure": SEND_TASK_FAILURE,
    "AWSStepFunctions.SendTaskHeartbeat": SEND_TASK_HEARTBEAT,
    "AWSEvents.PutEvents": PUT_EVENTS,
}


@dataclass(frozen=True)
class BucketSpec:
    """A token bucket: ``size`` tokens at most (the burst), ``refill_per_second`` added back."""

    size: float
    refill_per_second: float

    def __post_init__(self) -> None:
        if self.size < 1 or self.refill_per_second <= 0:
            raise ValueError(f"a bucket needs size >= 1 and a positive refill, not {self}")

    def scaled(self, factor: float) -> BucketSpec:
        """The same bucket ``factor`` times as large and as fast (at least one token)."""
        return BucketSpec(max(1.0, self.size * factor), self.refill_per_second * factor)


class TokenBucket:
    """Starts full; thread-safe."""

    def __init__(self, spec: BucketSpec, clock: Callable[[], float] = time.monotonic) -> None:
        self.spec = spec
        self._clock = clock
        self._tokens = spec.size
        self._at = clock()
        self._lock = threading.Lock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(
            self.spec.size, self._tokens + (now - self._at) * self.spec.refill_per_second
        )
        self._at = now

    def take(self) -> bool:
        """A token if there is one now."""
        with self._lock:
            self._refill()
            if self._tokens >= 1:
                self._tokens -= 1
                return True
            return False

    def reserve(self) -> float:
        """Take the next token, even one not refilled yet: the seconds until it is (0 if it is
        there), which the caller waits. Reserving keeps waiters in arrival order."""
        with self._lock:
            self._refill()
            self._tokens -= 1
            return 0.0 if self._tokens >= 0 else -self._tokens / self.spec.refill_per_second


class Throttler:
    """Buckets by API (the module's names), and what each API was asked and refused.
    ``machine_type`` gives a state machine's type (``STANDARD``/``EXPRESS``) by ARN."""

    def __init__(
        self,
        buckets: Mapping[str, BucketSpec],
        *,
        machine_type: Callable[[str], str | None],
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._clock = clock
        self.buckets: dict[str, TokenBucket] = {}
        self.limit(buckets)
        self._machine_type = machine_type
        self._sleep = sleep
        self._lock = threading.Lock()
        self.calls: Counter[str] = Counter()
        """Calls (HTTP attempts) per API, refused ones included; transitions per machine type."""
        self.throttled: Counter[str] = Counter()
        """Calls refused per API; for ``STATE_TRANSITION``, the transitions that waited."""
        self.transition_wait_seconds = 0.0

    def limit(self, buckets: Mapping[str, BucketSpec]) -> None:
        """From now on, these buckets (full) and no others: a test or a run can tighten or lift
        the quotas of a running cloud."""
        unknown = set(buckets) - {*REFUSABLE, STATE_TRANSITION}
        if unknown:
            raise ValueError(f"no such throttled API: {sorted(unknown)}")
        self.buckets = {api: TokenBucket(spec, self._clock) for api, spec in buckets.items()}

    def api_of(self, target: str, body: bytes | str | None) -> str | None:
        """The throttled API an HTTP request calls (None: not one of them)."""
        if target not in _TARGETS:
            return None
        api = _TARGETS[target]
        if api is None:
            arn = json.loads(body or "{}").get("stateMachineArn", "")
            express = self._machine_type(arn) == "EXPRESS"
            api = START_EXECUTION_EXPRESS if express else START_EXECUTION_STANDARD
        return api

    def admit(self, api: str) -> bool:
        """Count a call; False if its bucket is empty (the call is refused)."""
        bucket = self.buckets.get(api)
        admitted = bucket is None or bucket.take()
        with self._lock:
            self.calls[api] += 1
            if not admitted:
                self.throttled[api] += 1
        return admitted

    def transition(self, state_machine_arn: str) -> None:
        """A state entered (or retried) by an execution of that machine: a Standard one waits
        for its token."""
        kind = self._machine_type(state_machine_arn) or "STANDARD"
        with self._lock:
            self.calls[f"StateTransition ({kind.title()})"] += 1
        bucket = self.buckets.get(STATE_TRANSITION)
        if kind != "STANDARD" or bucket is None:
            return
        wait = bucket.reserve()
        if wait > 0:
            with self._lock:
                self.throttled[STATE_TRANSITION] += 1
                self.transition_wait_seconds += wait
            self._sleep(wait)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "calls": dict(self.calls),
                "throttled": dict(self.throttled),
                "transition_wait_seconds": round(self.transition_wait_seconds, 3),
            }


def throttling_response(url: str) -> AWSResponse:
    """What Step Functions and EventBridge answer a throttled call (JSON protocol)."""
    body = json.dumps({"__type": THROTTLING_ERROR, "message": THROTTLING_MESSAGE})
    headers = {"x-amzn-RequestId": str(uuid.uuid4()), "Content-Type": "application/x-amz-json-1.1"}
    return AWSResponse(url, THROTTLING_STATUS, headers, MockRawResponse(body))


# -- installation: the hooks stay in place once made, and do nothing without a throttler ---------

_active: Throttler | None = None
_original: dict[str, Any] = {}
"""The methods the hooks wrap, as they were when hooked (another wrapper, such as
bench.request_counter's RequestCounter, stays in the chain)."""


def _stubber_call(
    stubber: BotocoreStubber, event_name: str, request: AWSPreparedRequest, **kwargs: Any
) -> AWSResponse | None:
    throttler = _active
    if throttler is not None and stubber.enabled:
        target = request.headers.get("X-Amz-Target")
        if target is not None:
            text = target.decode() if isinstance(target, bytes) else str(target)
            api = throttler.api_of(text, request.body)
            if api is not None and not throttler.admit(api):
                return throttling_response(request.url)
    return _original["stubber"](stubber, event_name, request, **kwargs)


def _machine_of(env: Any) -> str:
    return str(env.states.context_object.context_object_data["StateMachine"]["Id"])


def _entered_after_its_token(self: CommonStateField, env: Any) -> None:
    throttler = _active
    if throttler is not None:
        throttler.transition(_machine_of(env))
    _original["eval_body"](self, env)


def _retried_after_its_token(self: ExecutionState, env: Any, failure_event: Any) -> Any:
    outcome = _original["handle_retry"](self, env, failure_event)
    throttler = _active
    if throttler is not None and outcome == RetryOutcome.CanRetry:
        throttler.transition(_machine_of(env))  # AWS counts a retry as a transition
    return outcome


def install(throttler: Throttler) -> None:
    """Throttle with ``throttler`` from now on (replacing any other)."""
    global _active
    if not _original:
        _original["stubber"] = BotocoreStubber.__call__
        _original["eval_body"] = CommonStateField._eval_body
        _original["handle_retry"] = ExecutionState._handle_retry
        BotocoreStubber.__call__ = _stubber_call  # type: ignore[method-assign,assignment]
        CommonStateField._eval_body = _entered_after_its_token  # type: ignore[method-assign]
        ExecutionState._handle_retry = _retried_after_its_token  # type: ignore[method-assign]
    _active = throttler


def uninstall(throttler: Throttler) -> None:
    global _active
    if _active is throttler:
        _active = None

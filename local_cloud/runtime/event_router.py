"""Delivery of EventBridge events to Lambda and Step Functions targets, which moto lacks.

moto matches every event against every rule (its own pattern matcher, the rules as deployed) and
delivers to SQS, CloudWatch Logs and archives itself, disabled rules included (a log group target
with an input transformer is delivered here instead: `input_transformer`); for Lambda and Step
Functions targets it raises ``NotImplementedError``. ``EventRouter.install`` wraps moto's
``Rule.send_to_targets`` so that disabled rules deliver nothing, as in EventBridge, and
those two target types are handed to a pool of delivery threads instead, as EventBridge does
asynchronously: Lambda targets get Lambda's async invocation (`lambda_runtime.AsyncInvoker`),
state machine targets a ``StartExecution``. A delivery that cannot be made is retried (briefly)
and then sent to the target's dead-letter queue, as EventBridge does; one refused for throttling
(``ThrottlingException``: Step Functions' ``StartExecution`` quota) is retried later, with
exponential backoff and jitter, until the target's retry policy (``MaximumRetryAttempts``,
``MaximumEventAgeInSeconds``; EventBridge's default 185 attempts in 24 hours) is spent, as
EventBridge retries throttled deliveries. ``in_flight`` counts deliveries queued or running, the
ones waiting to be retried, and the Lambda retries the invoker has scheduled (a retry is the same
event, still to be delivered), in one count (``Activity``).
"""

from __future__ import annotations

import copy
import json
import logging
import queue
import random
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError
from moto.events import models as events_models

from local_cloud.runtime.input_transformer import log_record, render
from local_cloud.runtime.lambda_runtime import AsyncInvoker, LocalFunction

LOG = logging.getLogger(__name__)

_ORIGINAL_SEND_TO_TARGETS = events_models.Rule.send_to_targets
_RETRY_ATTEMPTS = 185  # EventBridge's defaults, when a target has no retry policy
_RETRY_AGE_SECONDS = 24 * 3600
THROTTLED_RETRY_BASE_SECONDS = 1.0
THROTTLED_RETRY_CAP_SECONDS = 60.0
"""EventBridge documents exponential backoff with jitter, not its schedule: these are ours."""


def is_throttled(error: Exception) -> bool:
    return (
        isinstance(error, ClientError)
        and error.response.get("Error", {}).get("Code") == "ThrottlingException"
    )


# What the delivery threads work on: (target, event, rule ARN, throttled attempts, first attempt).
_Delivery = tuple[dict[str, Any], dict[str, Any], str, int, float]


def _service_of(arn: str) -> str:
    parts = arn.split(":")
    return parts[2] if len(parts) > 2 else ""


def _as_delivered(event: dict[str, Any]) -> dict[str, Any]:
    """The event as a target receives it: moto keeps ``time`` as epoch seconds internally."""
    delivered = {k: v for k, v in event.items() if k != "ingestion-time"}
    if isinstance(delivered.get("time"), (int, float)):
        delivered["time"] = datetime.fromtimestamp(delivered["time"], UTC).strftime(
            "%Y-%m-%dT%H:%M:%SZ"
        )
    return delivered


def _log_transformed(
    rule: events_models.Rule, target: dict[str, Any], event: dict[str, Any], ingested_at: datetime
) -> None:
    """A log group target with an input transformer, delivered as EventBridge does (moto would
    write the transformed object, JSON-encoded, as the message)."""
    from moto.logs import logs_backends

    rendered = render(target["InputTransformer"], event, ingested_at=ingested_at)
    timestamp_ms, message = log_record(rendered)
    name = target["Arn"].split(":log-group:", 1)[1].removesuffix(":*")
    backend = logs_backends[rule.account_id][rule.region_name]
    stream = str(uuid.uuid4())
    backend.create_log_stream(name, stream)
    backend.put_log_events(name, stream, [{"timestamp": timestamp_ms, "message": message}])


class EventRouter:
    def __init__(
        self,
        *,
        functions: dict[str, LocalFunction],
        invoker: AsyncInvoker,
        start_execution: Callable[[str, str], None],
        send_to_queue: Callable[[str, str], None],
        workers: int = 8,
        delivery_retries: int = 2,
        time_scale: float = 1.0,
    ) -> None:
        self._functions = functions  # by ARN
        self._invoker = invoker
        self._start_execution = start_execution
        self._send_to_queue = send_to_queue
        self._delivery_retries = delivery_retries
        self._time_scale = time_scale
        self._queue: queue.Queue[_Delivery | None] = queue.Queue()
        self._activity = invoker.activity  # deliveries and pending Lambda retries, one count
        self._deliveries = 0
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._work, name=f"event-router-{i}", daemon=True)
            for i in range(workers)
        ]
        self.delivered: dict[str, int] = {"lambda": 0, "states": 0}
        self.events_seen = 0
        self.throttled_retries = 0
        """Deliveries retried later because the target's service throttled them."""
        self.target_invocations = 0
        """Events sent to a rule's targets, one per target (EventBridge's invocations quota)."""

    # -- moto hook ------------------------------------------------------------------------------

    def install(self) -> None:
        router = self

        def send_to_targets(
            rule: events_models.Rule, original_event: Any, transform_input: bool = True
        ) -> None:
            if rule.state != "ENABLED" or not rule.event_pattern.matches_event(original_event):
                return  # moto delivers to disabled rules too; EventBridge does not
            if rule.managed_by is None:  # an archive's rule is EventBridge's, not a target's
                with router._lock:
                    router.target_invocations += len(rule.targets)
            ours = [t for t in rule.targets if _service_of(t["Arn"]) in ("lambda", "states")]
            for target in ours:
                if "InputTransformer" in target or "Input" in target or "InputPath" in target:
                    raise NotImplementedError("local cloud: target input transformation")
                router.submit(rule.arn, target, _as_delivered(original_event))
            transformed_logs = [
                t
                for t in rule.targets
                if _service_of(t["Arn"]) == "logs" and "InputTransformer" in t
            ]
            for target in transformed_logs:
                ingested_at = datetime.fromtimestamp(original_event["ingestion-time"], UTC)
                delivered = _as_delivered(original_event)
                try:
                    _log_transformed(rule, target, delivered, ingested_at)
                except ValueError as err:  # EventBridge: the delivery fails, to the DLQ
                    router._dead_letter(
                        target, delivered, rule.arn, "InputTransformation", str(err)
                    )
            ours += transformed_logs
            if len(ours) < len(rule.targets):
                others = copy.copy(rule)
                others.targets = [t for t in rule.targets if t not in ours]
                _ORIGINAL_SEND_TO_TARGETS(others, original_event, transform_input)

        events_models.Rule.send_to_targets = send_to_targets  # type: ignore[method-assign,assignment]
        for thread in self._threads:
            thread.start()

    def uninstall(self) -> None:
        events_models.Rule.send_to_targets = _ORIGINAL_SEND_TO_TARGETS  # type: ignore[method-assign]
        for _ in self._threads:
            self._queue.put(None)
        for thread in self._threads:
            thread.join(timeout=10)
        self._invoker.stop()

    # -- delivery -------------------------------------------------------------------------------

    def submit(self, rule_arn: str, target: dict[str, Any], event: dict[str, Any]) -> None:
        with self._lock:
            self._deliveries += 1
            self.events_seen += 1
        self._activity.begin()
        self._queue.put((target, event, rule_arn, 0, time.monotonic()))

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no delivery is queued or running and no Lambda retry is pending. Returns
        False on timeout."""
        return self._activity.wait_idle(timeout)

    @property
    def in_flight(self) -> int:
        """Deliveries queued or running, plus Lambda retries scheduled or running."""
        return self._activity.count

    @property
    def deliveries(self) -> int:
        """Deliveries queued or running."""
        return self._deliveries

    @property
    def pending_retries(self) -> int:
        """Lambda retries scheduled or running (``AsyncInvoker.pending``)."""
        return self._invoker.pending

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            try:
                self._deliver(*item)
            except Exception:  # the router must never die
                LOG.exception("delivery to %s failed", item[0].get("Arn"))
            finally:
                with self._lock:
                    self._deliveries -= 1
                self._activity.end()

    def _deliver(
        self,
        target: dict[str, Any],
        event: dict[str, Any],
        rule_arn: str,
        throttled: int = 0,
        first_at: float = 0.0,
    ) -> None:
        arn = target["Arn"]
        if _service_of(arn) == "lambda":
            function = self._functions.get(arn)
            if function is None:
                self._dead_letter(target, event, rule_arn, "ResourceNotFoundException", arn)
                return
            self.delivered["lambda"] += 1
            # Once Lambda accepted the event, failures are the function's business (its
            # async-invoke config), not the rule's. A failed first attempt leaves a retry
            # scheduled on the invoker; this thread moves on.
            self._invoker.invoke(function, event)
            return
        error: Exception | None = None
        for attempt in range(1 + self._delivery_retries):
            if attempt:
                time.sleep(0.05 * attempt)
            try:
                self._start_execution(arn, json.dumps(event))
                self.delivered["states"] += 1
                return
            except Exception as err:
                error = err
                if is_throttled(err):
                    if self._retry_later((target, event, rule_arn, throttled + 1, first_at)):
                        return
                    break
        self._dead_letter(target, event, rule_arn, type(error).__name__, str(error))

    def _retry_later(self, delivery: _Delivery) -> bool:
        """Deliver again after a backoff, if the target's retry policy allows another attempt
        (its durations, like the backoff, times ``time_scale``)."""
        target, _, _, attempt, first_at = delivery
        policy = target.get("RetryPolicy") or {}
        max_age = policy.get("MaximumEventAgeInSeconds", _RETRY_AGE_SECONDS) * self._time_scale
        if attempt > policy.get("MaximumRetryAttempts", _RETRY_ATTEMPTS):
            return False
        ceiling = min(
            THROTTLED_RETRY_CAP_SECONDS, THROTTLED_RETRY_BASE_SECONDS * 2 ** (attempt - 1)
        )
        delay = random.uniform(0, ceiling) * self._time_scale
        if time.monotonic() + delay - first_at > max_age:
            return False
        with self._lock:
            self._deliveries += 1
            self.throttled_retries += 1
        self._activity.begin()  # still to be delivered: the router is not idle
        timer = threading.Timer(delay, self._queue.put, args=(delivery,))
        timer.daemon = True
        timer.start()
        return True

    def _dead_letter(
        self, target: dict[str, Any], event: dict[str, Any], rule_arn: str, code: str, message: str
    ) -> None:
        dlq = target.get("DeadLetterConfig", {}).get("Arn")
        LOG.warning(
            "event %s not delivered to %s: %s %s", event.get("id"), target["Arn"], code, message
        )
        if dlq:
            self._send_to_queue(
                dlq,
                json.dumps(
                    {
                        **event,
                        "_delivery_error": {
                            "RULE_ARN": rule_arn,
                            "TARGET_ARN": target["Arn"],
                            "ERROR_CODE": code,
                            "ERROR_MESSAGE": message,
                        },
                    }
                ),
            )


def execution_name() -> str:
    """EventBridge starts state machine targets with a random execution name."""
    return str(uuid.uuid4())

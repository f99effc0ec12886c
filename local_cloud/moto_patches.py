"""Gaps in moto 5.2.5 that change what the app observes, filled here (and only here).

* ``SendTaskFailure`` drops its ``cause`` parameter in moto's response layer (its ASL engine
  supports one), so a failed order would lose its reason. Forwarded.
* ``SendTaskSuccess``/``Failure``/``Heartbeat`` look for the token in every running execution,
  including one that was created a moment ago and has no worker environment yet; that one raises
  ``AttributeError`` and the call fails (seen as ``States.Runtime`` in the Step Finisher, so a
  worker's answer was lost and the order waited for its heartbeat). Executions without a worker
  cannot hold the token, so they are skipped.
* A ``waitForTaskToken`` task with a heartbeat sets up its heartbeat wait only after its request
  (``PutEvents``) returned. An answer that arrives sooner (a fast worker: EventBridge delivers
  while ``PutEvents`` is still writing to its other targets) is stored, but the heartbeat wait
  never hears of it, and the task times out on its heartbeat instead of resuming. On AWS the
  answer resumes the task. Fixed: a heartbeat wait set up after the answer starts as notified.
* ``StartReplay`` sends every archived event to every rule of the bus, ignoring the replay's
  time window and ``Destination.FilterArns`` (the README's replay procedure relies on both: it
  re-drives lost orders through the order starter's rule only). Honoured.
* Every request to any moto service goes through ``BackendDict._create_account_specific_backend``,
  which takes a process-wide lock and scans a list even when the account's backend exists: with
  many threads (executions, handlers, pollers) it serialised the whole local cloud (a profile of
  a 500-voucher order spent a fifth of its samples there). A backend that exists is returned
  without the lock; creating one still goes through moto's code.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from moto.core.base_backend import BackendDict
from moto.core.responses import ActionResult, EmptyResult
from moto.core.utils import unix_time
from moto.events import models as events_models
from moto.stepfunctions.parser.asl.eval.callback.callback import (
    CallbackEndpoint,
    HeartbeatEndpoint,
)
from moto.stepfunctions.parser.models import StepFunctionsParserBackend
from moto.stepfunctions.responses import StepFunctionResponse

_applied = False
_original_get_executions = StepFunctionsParserBackend._get_executions
_original_create_backend = BackendDict._create_account_specific_backend
_original_setup_heartbeat = CallbackEndpoint.setup_heartbeat_endpoint


def _send_task_failure(self: StepFunctionResponse) -> ActionResult:
    # The backend in use is the ASL engine's (StepFunctionsParserBackend), which takes a cause;
    # the type moto declares is its older backend's.
    backend: Any = self.stepfunction_backend
    backend.send_task_failure(
        self._get_param("taskToken"),
        error=self._get_param("error"),
        cause=self._get_param("cause"),
    )
    return EmptyResult()


def _started_executions(self: StepFunctionsParserBackend, execution_status: Any = None) -> Any:
    return [
        execution
        for execution in _original_get_executions(self, execution_status)
        if getattr(getattr(execution, "exec_worker", None), "env", None) is not None
    ]


def _heartbeat_after_an_early_answer(
    self: CallbackEndpoint, heartbeat_seconds: int
) -> HeartbeatEndpoint:
    endpoint = _original_setup_heartbeat(self, heartbeat_seconds)
    # ``notify`` stores the outcome, then notifies the heartbeat endpoint if there is one: one
    # of the two threads sees the other's write, so the answer is never missed (a second
    # notification is harmless).
    if self.get_outcome() is not None:
        endpoint.notify()
    return endpoint


def _epoch_seconds(value: Any) -> float:
    if isinstance(value, (int, float)):
        return float(value)
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()


def _replay_events(self: events_models.Replay, archive: events_models.Archive) -> None:
    backend = events_models.events_backends[self.account_id][self.region]
    bus = backend.describe_event_bus(self.destination["Arn"].split("/")[-1])
    only = set(self.destination.get("FilterArns") or [])
    start = _epoch_seconds(self.event_start_time)
    end = _epoch_seconds(self.event_end_time)
    for event in list(archive.events):
        if not start <= _epoch_seconds(event["time"]) < end:
            continue
        for rule in list(bus.rules.values()):
            if only and rule.arn not in only:
                continue
            replayed: Any = {**event, "id": str(uuid.uuid4()), "replay-name": self.name}
            rule.send_to_targets(replayed, transform_input=False)
    self.state = events_models.ReplayState.COMPLETED
    self.end_time = unix_time()


def _existing_or_new_backend(self: BackendDict[Any], account_id: str) -> None:
    # A BackendDict only gains an account inside moto's create (which registers it for reset)
    # and loses all of them on reset: an account present here is created and registered.
    if dict.__contains__(self, account_id):
        return
    _original_create_backend(self, account_id)


def apply() -> None:
    """Idempotent; affects every moto mock in the process."""
    global _applied
    if not _applied:
        StepFunctionResponse.send_task_failure = _send_task_failure  # type: ignore[method-assign]
        StepFunctionsParserBackend._get_executions = _started_executions  # type: ignore[method-assign]
        BackendDict._create_account_specific_backend = _existing_or_new_backend  # type: ignore[method-assign]
        CallbackEndpoint.setup_heartbeat_endpoint = _heartbeat_after_an_early_answer  # type: ignore[method-assign]
        events_models.Replay.replay_events = _replay_events  # type: ignore[method-assign]
        _applied = True

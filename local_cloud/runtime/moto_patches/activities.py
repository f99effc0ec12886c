"""Activities, which moto's ASL engine has but cannot run: every execution gets an empty activity
store of its own (so an activity task fails with ``ActivityDoesNotExist``), and moto's response
layer has no ``GetActivityTask`` for a worker to take the task with.

Here the executions of one account and Region share one store, which knows every activity moto
created there, and ``GetActivityTask`` does what AWS documents: it long-polls for up to 60
seconds, answers with no token when no task came, and otherwise hands out the oldest task and
tells its execution the task has started (the ``ActivityStarted`` event; from then on the
task's heartbeat counts). ``SendTaskSuccess``/``Failure`` with the token need nothing more:
moto's engine listens for the activity's token like any other. ``SendTaskHeartbeat`` did not:
moto refuses it (``InvalidToken``) until the task has set up its heartbeat wait, a moment after
it started, and for good on a task without ``HeartbeatSeconds``; AWS accepts a heartbeat for any
open task. It is accepted (the heartbeat clock starts when the wait is set up).
"""

from __future__ import annotations

import threading
import time
from typing import Any, cast

from moto.core.responses import ActionResult
from moto.stepfunctions.parser.asl.eval.callback.callback import (
    ActivityCallbackEndpoint,
    CallbackEndpoint,
)
from moto.stepfunctions.parser.backend.activity import Activity, ActivityTask
from moto.stepfunctions.parser.backend.execution import Execution
from moto.stepfunctions.parser.models import StepFunctionsParserBackend
from moto.stepfunctions.responses import StepFunctionResponse, get_backend

LONG_POLL_SECONDS = 60.0
"""How long ``GetActivityTask`` waits for a task (AWS: up to 60 seconds)."""
_POLL_INTERVAL = 0.05

_lock = threading.Lock()
_closing = threading.Event()
"""Set while the local cloud stops: pending long polls answer at once, with no task."""
_stores: dict[tuple[str, str], SharedActivities] = {}


class SharedActivities(dict[str, Activity]):
    """One account and Region's activities, as the ASL engine's store: an ARN moto created
    resolves to the one queue of tasks every execution adds to and every worker takes from."""

    def __init__(self, account_id: str, region: str) -> None:
        super().__init__()
        self._account_id, self._region = account_id, region

    def get(self, arn: str, default: Any = None) -> Any:
        with _lock:
            if not dict.__contains__(self, arn):
                created = get_backend(self._account_id, self._region).activities
                if arn not in created:
                    return default
                self[arn] = Activity(arn, created[arn].name)
            return dict.__getitem__(self, arn)


def activities_of(account_id: str, region: str) -> SharedActivities:
    with _lock:
        key = (account_id, region)
        if key not in _stores:
            _stores[key] = SharedActivities(account_id, region)
        return _stores[key]


_execution_init = Execution.__init__


def _sharing_activities(self: Execution, *args: Any, **kwargs: Any) -> None:
    _execution_init(self, *args, **kwargs)
    self._activity_store = activities_of(self.account_id, self.region_name)
    # The engine reads the store from the environment it builds from this attribute.


def _get_activity_task(self: StepFunctionResponse) -> ActionResult:
    arn = self._get_param("activityArn")
    worker = self._get_param("workerName")
    self.stepfunction_backend.describe_activity(arn)  # ActivityDoesNotExist, InvalidArn
    activity = activities_of(self.current_account, self.region).get(arn)
    deadline = time.monotonic() + LONG_POLL_SECONDS
    while True:
        task = _take(activity)
        if task is not None:
            break
        if time.monotonic() >= deadline or _closing.is_set():
            return ActionResult({})
        time.sleep(_POLL_INTERVAL)
    _started(self, task.task_token, worker)
    return ActionResult({"taskToken": task.task_token, "input": task.task_input})


def _take(activity: Activity) -> ActivityTask | None:
    with _lock:
        try:
            return activity.get_task()
        except IndexError:
            return None


def _started(response: StepFunctionResponse, token: str, worker: str | None) -> None:
    # The executions that can hold a token (the backend's lookup, as patched in task_tokens).
    backend = cast(StepFunctionsParserBackend, response.stepfunction_backend)
    for execution in backend._get_executions():
        endpoint = execution.exec_worker.env.callback_pool_manager.get(callback_id=token)
        if isinstance(endpoint, ActivityCallbackEndpoint):
            endpoint.notify_activity_task_start(worker_name=worker)
            return


_notify_heartbeat = CallbackEndpoint.notify_heartbeat


def _heartbeat_of_an_open_task(self: CallbackEndpoint) -> bool:
    # Called only for a token in the pool whose task has not ended (the pool checks).
    return self._heartbeat_endpoint is None or _notify_heartbeat(self)


def close_long_polls() -> None:
    """The local cloud is stopping: end every pending ``GetActivityTask`` with no task."""
    _closing.set()


def open_long_polls() -> None:
    _closing.clear()


def apply() -> None:
    Execution.__init__ = _sharing_activities  # type: ignore[method-assign]
    CallbackEndpoint.notify_heartbeat = _heartbeat_of_an_open_task  # type: ignore[method-assign]
    StepFunctionResponse.get_activity_task = _get_activity_task  # type: ignore[attr-defined]

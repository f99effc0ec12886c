"""Step Functions' task tokens: each recorded with the execution that issued it and answered by
that execution alone, a fresh token per attempt and closed when its attempt ends, a heartbeat wait
that hears of an earlier answer, ``SendTaskFailure``'s cause and the errors that name a closed or
unknown token (the package docstring says why each)."""

from __future__ import annotations

import contextvars
import functools
import weakref
from collections.abc import Callable
from typing import Any

from moto.core.exceptions import JsonRESTError
from moto.core.responses import ActionResult, EmptyResult
from moto.stepfunctions.parser import api as sfn_api
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
    state_task_service_callback as callback_task,
)
from moto.stepfunctions.parser.asl.eval.callback.callback import (
    CallbackConsumerLeft,
    CallbackConsumerTimeout,
    CallbackEndpoint,
    CallbackTimeoutError,
    HeartbeatEndpoint,
    HeartbeatTimeoutError,
)
from moto.stepfunctions.parser.backend.execution import Execution
from moto.stepfunctions.parser.models import StepFunctionsParserBackend
from moto.stepfunctions.responses import StepFunctionResponse

_original_setup_heartbeat = CallbackEndpoint.setup_heartbeat_endpoint
_CallbackTask = callback_task.StateTaskServiceCallback
_original_task_execution = _CallbackTask._eval_execution
_original_integration_pattern = _CallbackTask._eval_integration_pattern


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


# Every started execution by ARN, and the execution that issued each task token; weak, so that
# what a reset or a closed local cloud drops is not kept alive here.
_executions: weakref.WeakValueDictionary[str, Execution] = weakref.WeakValueDictionary()
_token_issuers: weakref.WeakValueDictionary[str, Execution] = weakref.WeakValueDictionary()
# The token of the SendTask* call this thread is serving, so that moto's scan sees its issuer only.
_answering: contextvars.ContextVar[str | None] = contextvars.ContextVar("answering", default=None)
_original_start = Execution.start


def _registered_start(self: Execution) -> None:
    _executions[self.execution_arn] = self  # before its worker can issue a token
    _original_start(self)


def _running_once_listed(self: Execution) -> str:
    # moto adds an execution to its machine's list before start() gives it a status, so a
    # ListExecutions or DescribeExecution in between failed ('NoneType' has no 'value'). AWS's
    # StartExecution creates and starts in one step: whatever can see the execution sees RUNNING.
    return (self.exec_status or sfn_api.ExecutionStatus.RUNNING).value


def token_issuer(token: str) -> Execution | None:
    """The execution whose task issued ``token`` (running or not), if any did."""
    return _token_issuers.get(token)


def _asking_the_issuer_only(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def answer(self: StepFunctionsParserBackend, task_token: str, *args: Any, **kwargs: Any) -> Any:
        reset = _answering.set(task_token)
        try:
            return method(self, task_token, *args, **kwargs)
        finally:
            _answering.reset(reset)

    return answer


def _started_executions(self: StepFunctionsParserBackend, execution_status: Any = None) -> Any:
    token = _answering.get()
    issuer = _token_issuers.get(token) if token is not None else None
    # A token is recorded as its attempt starts; one answered sooner than that (only a client
    # that hooks the engine's token registry can) is looked for the way moto does.
    if issuer is not None:
        if (issuer.account_id, issuer.region_name) != (self.account_id, self.region_name):
            return []
        if execution_status is not None and issuer.status != execution_status:
            return []
        return [issuer]
    started = []
    for machine in list(self.state_machines):
        for execution in list(machine.executions):
            if getattr(execution, "exec_status", None) is None:
                continue  # still being created: moto's ``status`` would raise
            if getattr(getattr(execution, "exec_worker", None), "env", None) is None:
                continue  # no worker environment yet: cannot hold a token
            if execution_status is None or execution_status == execution.status:
                started.append(execution)
    return started


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


def _current_token(env: Any) -> Any:
    return (env.states.context_object.context_object_data.get("Task") or {}).get("Token")


def _fresh_token_per_attempt(self: Any, env: Any) -> None:
    # moto made the token once per state entry (``_eval_body``); a retry re-runs only this.
    if _current_token(env) and env.states.context_object.context_object_data["State"].get(
        "RetryCount"
    ):
        env.callback_pool_manager.add(env.states.context_object.update_task_token())
    token = _current_token(env)
    if token:  # a callback task (a request-response task has no token)
        execution_arn = env.states.context_object.context_object_data["Execution"]["Id"]
        _token_issuers[token] = _executions[execution_arn]
    _original_task_execution(self, env)


def _token_closed_when_its_attempt_ends(self: Any, env: Any, *args: Any, **kwargs: Any) -> None:
    token = _current_token(env)
    endpoint = env.callback_pool_manager.get(token) if token else None
    try:
        _original_integration_pattern(self, env, *args, **kwargs)
    except (CallbackTimeoutError, HeartbeatTimeoutError):
        if endpoint is not None:
            endpoint.report(CallbackConsumerTimeout())
        raise
    finally:
        if endpoint is not None and endpoint.consumer_error is None:
            endpoint.report(CallbackConsumerLeft())


_TOKEN_ERRORS: dict[type[Any], str] = {
    sfn_api.InvalidToken: "Invalid Token: 'Invalid token'",
    sfn_api.TaskDoesNotExist: "Provided task does not exist anymore",
    sfn_api.TaskTimedOut: "Task Timed Out",
}


def _name_token_errors() -> None:
    for error, message in _TOKEN_ERRORS.items():
        error.TYPE = error.code

        def init(self: Any, message: str = message) -> None:
            JsonRESTError.__init__(self, self.TYPE, message)
            self.code = 400

        error.__init__ = init

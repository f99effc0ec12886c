"""Gaps in moto 5.2.5 that change what the app observes, filled here (and only here).

* ``SendTaskFailure`` drops its ``cause`` parameter in moto's response layer (its ASL engine
  supports one), so a failed order would lose its reason. Forwarded.
* ``SendTaskSuccess``/``Failure``/``Heartbeat`` look for the token in every execution the
  backend ever ran (each Step Finisher run included) and ask each one: the cost of an answer grew
  with the executions before it, a GIL-bound scan that took a quarter of the local cloud's time
  after 600 orders and starved everything else (the fake vendor answered past the mediator's
  timeouts) in the fault suite's 2,000-order modules. Each task token is now recorded with the
  execution that issued it, and the three calls ask that execution alone, with moto's own code
  (a token not recorded yet is looked for as moto does; one nobody issued is ``InvalidToken``).
* They also looked in every running execution,
  including one that was created a moment ago and has no worker environment yet; that one raises
  ``AttributeError`` and the call fails (seen as ``States.Runtime`` in the Step Finisher, so a
  worker's answer was lost and the order waited for its heartbeat; with 500 orders at once, an
  execution caught before it even has a status did the same to the Token Handler). Executions
  without a status or a worker cannot hold the token, so they are skipped.
* A ``waitForTaskToken`` task with a heartbeat sets up its heartbeat wait only after its request
  (``PutEvents``) returned. An answer that arrives sooner (a fast worker: EventBridge delivers
  while ``PutEvents`` is still writing to its other targets) is stored, but the heartbeat wait
  never hears of it, and the task times out on its heartbeat instead of resuming. On AWS the
  answer resumes the task. Fixed: a heartbeat wait set up after the answer starts as notified.
* ``StartReplay`` sends every archived event to every rule of the bus, ignoring the replay's
  time window and ``Destination.FilterArns`` (the README's replay procedure relies on both: it
  re-drives lost orders through the order starter's rule only). Honoured.
* A ``waitForTaskToken`` task keeps one task token for all its attempts, and a token stays
  open after its attempt ended. On AWS every attempt (a retry after a heartbeat timeout) gets a
  new token, and an answer with the token of an attempt that ended is refused (``TaskTimedOut``
  for one that timed out, else ``TaskDoesNotExist``; moto names both ``TaskDoesNotExist``, which
  the resumers treat alike). In moto a late answer from a stalled worker
  resumed the retry (or vanished silently), so neither resumer ever saw a closed token. Fixed:
  a fresh token per retry, and the token is closed when its attempt ends.
* ``SendTaskSuccess``/``Failure`` with a closed or unknown token raise moto's ``TaskTimedOut``,
  ``TaskDoesNotExist`` or ``InvalidToken`` without the message their base class requires, so
  the call failed with a ``TypeError`` (a 500, or ``States.Runtime`` in the Step Finisher)
  instead of the named error both resumers expect and drop. Given their AWS codes and messages.
* Every request to any moto service goes through ``BackendDict._create_account_specific_backend``,
  which takes a process-wide lock and scans a list even when the account's backend exists: with
  many threads (executions, handlers, pollers) it serialised the whole local cloud (a profile of
  a 500-voucher order spent a fifth of its samples there). A backend that exists is returned
  without the lock; creating one still goes through moto's code.
* Every JSONPath moto evaluates is parsed by a parser built for that one call (jsonpath_ng builds
  its lexer and its LALR tables each time): the ASL engine's paths (``$.order_reference``, a
  ``ResultPath``) and, worse, EventBridge's delivery to log groups, archives and queues, which
  parses the eight paths of its default input template for every event and every such target.
  A profile of the local cloud at 16 orders in flight spent a quarter of its time building
  those parsers. Parsed paths are immutable and depend only on the text, so each is parsed once
  (the ``jsonpath_ng.ext.parse`` that moto's EventBridge imports at every call, and the ASL
  engine's two imports of ``parse``); results are unchanged.
* The ASL engine creates a new boto3 client for every task of a service integration
  (``events:putEvents``, ``aws-sdk:sfn:sendTaskSuccess``): a tenth of that profile. Clients are
  thread-safe and these carry no state of the task (fixed dummy credentials, no retries), so one
  per region and service is reused, created exactly as moto creates it.
* The ASL engine parses the state machine's definition (antlr4, in pure Python) at the start of
  every execution: with the two fixes above, a third of the local cloud's time at 16 orders in
  flight, where every worker's answer starts a Step Finisher execution. A parsed program keeps
  all the state of a run in the execution's environment (moto already runs one program in many
  Map iterations and Parallel branches at once), so each definition is parsed once and its
  program shared by the executions that run it.
* DynamoDB requests were not atomic per item under threads (a conditional write's check and
  change could interleave with another thread's): see ``moto_dynamodb``.

* ``lambda:invoke`` tasks (the approval step's ``.waitForTaskToken``) call moto's Lambda, which
  would start a container for this app's functions. The engine's Lambda client runs them in the
  local runtime instead, as a synchronous invocation with AWS's answer for a function error
  (``FunctionError: Unhandled``, ``errorType``; ``Sandbox.Timedout`` for a timeout).
* An ``events:putEvents`` task whose request EventBridge refuses as a whole (an error answer,
  such as ``ThrottlingException`` when the account's ``PutEvents`` quota is exceeded) fails in
  moto with ``States.Runtime``, which no ``Retry`` or ``Catch`` matches: the execution fails.
  Step Functions names a service's errors in its integrations ``<Service>.<Exception>``, the
  exception being the SDK's class for the error code (moto's own rule for ``aws-sdk`` tasks):
  ``EventBridge.ThrottlingException`` (EventBridge's API model declares ``ThrottlingException``),
  ``EventBridge.InternalException``; a code the model does not declare is
  ``EventBridge.EventBridgeException`` (as ``Sfn.SfnException``).

Not a gap, but hooked here because it sits in the ASL engine's client above: the fault suite's
knob for EventBridge refusing a state machine's ``PutEvents`` (``LocalCloud.
state_machine_put_events_fault``, which holds the policy). The engine's ``events`` client is
wrapped so that, while ``intercept_state_machine_put_events`` is active, its ``put_events`` can
be answered by the interceptor instead of moto (nothing is put then). Only the ASL engine's
calls pass through that client: the handlers' and tests' ``put_events`` do not. With no
interceptor the call goes to moto unchanged. The engine treats the answer as it treats moto's: a
non-zero ``FailedEntryCount`` fails the task with ``EventBridge.FailedEntry``, as on AWS
(https://docs.aws.amazon.com/step-functions/latest/dg/connect-eventbridge.html).
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import io
import json
import threading
import uuid
import weakref
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import jsonpath_ng
import jsonpath_ng.ext
from botocore.exceptions import ClientError
from moto.core.base_backend import BackendDict
from moto.core.exceptions import JsonRESTError
from moto.core.responses import ActionResult, EmptyResult
from moto.core.utils import unix_time
from moto.events import models as events_models
from moto.stepfunctions.parser import api as sfn_api
from moto.stepfunctions.parser.api import HistoryEventType, TaskFailedEventDetails
from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import (
    CustomErrorName,
)
from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import FailureEvent
from moto.stepfunctions.parser.asl.component.common.path import result_path
from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
    state_task_service_aws_sdk,
    state_task_service_events,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
    state_task_service_callback as callback_task,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_aws_sdk import (  # noqa: E501
    StateTaskServiceAwsSdk,
)
from moto.stepfunctions.parser.asl.eval.callback.callback import (
    CallbackConsumerLeft,
    CallbackConsumerTimeout,
    CallbackEndpoint,
    CallbackTimeoutError,
    HeartbeatEndpoint,
    HeartbeatTimeoutError,
)
from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
from moto.stepfunctions.parser.asl.utils import boto_client, json_path
from moto.stepfunctions.parser.backend.execution import Execution
from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker
from moto.stepfunctions.parser.models import StepFunctionsParserBackend
from moto.stepfunctions.responses import StepFunctionResponse

from local_cloud.runtime import moto_dynamodb

_applied = False
_original_create_backend = BackendDict._create_account_specific_backend
_original_setup_heartbeat = CallbackEndpoint.setup_heartbeat_endpoint
_original_boto_client_for = boto_client.boto_client_for
# The ASL engine's integrations that the app uses (and so the ones worth a shared client).
_CLIENT_USERS = (state_task_service_events, state_task_service_aws_sdk, lambda_eval_utils)

_parse_jsonpath = functools.lru_cache(maxsize=4096)(jsonpath_ng.parse)
_parse_extended_jsonpath = functools.lru_cache(maxsize=4096)(jsonpath_ng.ext.parse)
_Events = state_task_service_events.StateTaskServiceEvents
_original_events_from_error = _Events._from_error
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


def _events_service_error(self: Any, env: Any, ex: Exception) -> FailureEvent:
    if not isinstance(ex, ClientError):
        return _original_events_from_error(self, env, ex)
    name = StateTaskServiceAwsSdk._normalise_exception_name("EventBridge", ex)
    metadata = ex.response.get("ResponseMetadata", {})
    cause = (
        f"{ex.response.get('Error', {}).get('Message', '')} (Service: EventBridge, Status Code: "
        f"{metadata.get('HTTPStatusCode')}, Request ID: {metadata.get('RequestId')})"
    )
    return FailureEvent(
        env=env,
        error_name=CustomErrorName(error_name=name),
        event_type=HistoryEventType.TaskFailed,
        event_details=EventDetails(  # type: ignore[typeddict-item]
            taskFailedEventDetails=TaskFailedEventDetails(
                error=name,
                cause=cause,
                resource=self._get_sfn_resource(),
                resourceType=self._get_sfn_resource_type(),
            )
        ),
    )


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


PutEventsInterceptor = Callable[[list[dict[str, Any]]], dict[str, Any] | None]
"""Given a state machine's ``PutEvents`` entries: the response to answer with, or None to let
the call through to moto."""

_put_events_interceptor: PutEventsInterceptor | None = None
_interceptor_lock = threading.Lock()


class _StateMachineEventsClient:
    """The ASL engine's EventBridge client: the shared client, whose ``put_events`` an active
    interceptor may answer instead."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def put_events(self, **parameters: Any) -> Any:
        interceptor = _put_events_interceptor
        if interceptor is not None:
            response = interceptor(list(parameters.get("Entries", [])))
            if response is not None:
                return response
        return self._client.put_events(**parameters)


@contextlib.contextmanager
def intercept_state_machine_put_events(interceptor: PutEventsInterceptor) -> Iterator[None]:
    """While the block runs, every ``PutEvents`` call of a state machine task goes to
    ``interceptor`` first. One interceptor at a time (moto is process-wide)."""
    global _put_events_interceptor
    apply()
    with _interceptor_lock:
        if _put_events_interceptor is not None:
            raise RuntimeError("a state machine PutEvents interceptor is already active")
        _put_events_interceptor = interceptor
    try:
        yield
    finally:
        with _interceptor_lock:
            _put_events_interceptor = None


LambdaInvoker = Callable[[str, Any], Any]
"""(function name or ARN, event) → the handler's result; raises what the handler raises."""
_lambda_invoker: LambdaInvoker | None = None
LAMBDA_TIMEOUT_ERROR_TYPE = "Sandbox.Timedout"
"""The ``errorType`` Lambda reports for an invocation that ran past its timeout."""


class _StateMachineLambdaClient:
    """The ASL engine's Lambda client (``lambda:invoke`` tasks): moto cannot run this app's
    functions (it would start a container), so ``Invoke`` runs the local runtime's function, as
    a synchronous invocation: the handler's result as the payload, or ``FunctionError:
    Unhandled`` with ``errorType``/``errorMessage`` when it raises (Step Functions names the
    task's error after ``errorType``)."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def invoke(self, **parameters: Any) -> Any:
        invoker = _lambda_invoker
        if invoker is None:
            return self._client.invoke(**parameters)
        raw = parameters.get("Payload") or b"{}"
        event = json.loads(raw.decode() if isinstance(raw, bytes) else raw)
        answer: dict[str, Any] = {"StatusCode": 200, "ExecutedVersion": "$LATEST"}
        try:
            result = invoker(str(parameters["FunctionName"]), event)
        except Exception as err:
            timed_out = type(err).__name__ == "LambdaTimeoutError"
            error_type = LAMBDA_TIMEOUT_ERROR_TYPE if timed_out else type(err).__name__
            body = {"errorMessage": str(err), "errorType": error_type, "stackTrace": []}
            answer["FunctionError"] = "Unhandled"
            answer["Payload"] = io.BytesIO(json.dumps(body).encode())
            return answer
        answer["Payload"] = io.BytesIO(json.dumps(result).encode())
        return answer


def route_state_machine_lambda_invokes(invoker: LambdaInvoker | None) -> None:
    """Run the ASL engine's ``lambda:invoke`` tasks with ``invoker`` (None: moto's own, which
    cannot run these functions). One local cloud at a time (moto is process-wide)."""
    global _lambda_invoker
    apply()
    _lambda_invoker = invoker


_CLIENT_WRAPPERS: dict[str, Callable[[Any], Any]] = {
    "events": _StateMachineEventsClient,
    "lambda": _StateMachineLambdaClient,
}


@functools.lru_cache(maxsize=64)
def _shared_boto_client(region: str, service: str, intercepted: bool) -> Any:
    client = _original_boto_client_for(region=region, service=service)
    wrap = _CLIENT_WRAPPERS.get(service)
    return wrap(client) if wrap else client


def _boto_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
    # moto ignores the credentials (it always uses dummy ones); whether its botocore stubber is
    # on decides the endpoint the client is created with, so it is part of the key.
    return _shared_boto_client(region, service, boto_client.botocore_stubber.enabled)


@functools.lru_cache(maxsize=64)
def _parsed_program(definition: str) -> Any:
    return AmazonStateLanguageParser.parse(definition)[0]


def _program_parsed_once(self: ExecutionWorker) -> Any:
    return _parsed_program(self._evaluation_details.state_machine_details.definition)


def apply() -> None:
    """Idempotent; affects every moto mock in the process."""
    global _applied
    if not _applied:
        StepFunctionResponse.send_task_failure = _send_task_failure  # type: ignore[method-assign]
        StepFunctionsParserBackend._get_executions = _started_executions  # type: ignore[method-assign]
        Execution.start = _registered_start  # type: ignore[method-assign]
        for name in ("send_task_success", "send_task_failure", "send_task_heartbeat"):
            method = getattr(StepFunctionsParserBackend, name)
            setattr(StepFunctionsParserBackend, name, _asking_the_issuer_only(method))
        BackendDict._create_account_specific_backend = _existing_or_new_backend  # type: ignore[method-assign]
        CallbackEndpoint.setup_heartbeat_endpoint = _heartbeat_after_an_early_answer  # type: ignore[method-assign]
        events_models.Replay.replay_events = _replay_events  # type: ignore[method-assign]
        _name_token_errors()
        _Events._from_error = _events_service_error  # type: ignore[method-assign]
        _CallbackTask._eval_execution = _fresh_token_per_attempt  # type: ignore[method-assign]
        _CallbackTask._eval_integration_pattern = _token_closed_when_its_attempt_ends  # type: ignore[method-assign]
        jsonpath_ng.ext.parse = _parse_extended_jsonpath
        json_path.parse = _parse_extended_jsonpath
        result_path.parse = _parse_jsonpath
        for module in _CLIENT_USERS:
            module.boto_client_for = _boto_client_for  # type: ignore[attr-defined]
        ExecutionWorker._get_evaluation_entrypoint = _program_parsed_once  # type: ignore[method-assign]
        moto_dynamodb.apply()
        _applied = True

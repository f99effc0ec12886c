"""The ASL engine's boto3 clients: one shared per region and service, the ``events`` client whose
``put_events`` an interceptor may answer (the fault suite's knob), the ``lambda`` client that runs
the local runtime's functions, and the names Step Functions gives EventBridge's errors in an
``events:putEvents`` task (the package docstring says why each)."""

from __future__ import annotations

import contextlib
import functools
import io
import json
import threading
from collections.abc import Callable, Iterator
from typing import Any

from botocore.exceptions import ClientError
from moto.stepfunctions.parser.api import HistoryEventType, TaskFailedEventDetails
from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import (
    CustomErrorName,
)
from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import FailureEvent
from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
    state_task_service_aws_sdk,
    state_task_service_events,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_aws_sdk import (  # noqa: E501
    StateTaskServiceAwsSdk,
)
from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails
from moto.stepfunctions.parser.asl.utils import boto_client

_original_boto_client_for = boto_client.boto_client_for
# The ASL engine's integrations that the app uses (and so the ones worth a shared client).
_CLIENT_USERS = (state_task_service_events, state_task_service_aws_sdk, lambda_eval_utils)
_Events = state_task_service_events.StateTaskServiceEvents
_original_events_from_error = _Events._from_error


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
    # installation imports this module to install its clients: so imported here, when called.
    from local_cloud.runtime.moto_patches.installation import apply

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
    # installation imports this module to install its clients: so imported here, when called.
    from local_cloud.runtime.moto_patches.installation import apply

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

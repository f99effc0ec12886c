"""The ``states:startExecution`` integration (``.sync``, ``.sync:2``: a state machine that runs a
child), which moto's ASL engine breaks three ways: it hands botocore the PascalCase names of the
state's ``Parameters`` (``StateMachineArn``; the SDK's are ``stateMachineArn``), reads the
answer under PascalCase names the SDK does not return (``ExecutionArn``), and puts dates in the
task's output as Python objects that cannot be written as JSON. On AWS the task's output is the
``DescribeExecution`` answer in PascalCase with dates in epoch milliseconds.

And any execution started without a ``name`` (a child, or ``StartExecution`` from a client) is
named ``None`` by moto: a second one with the same input is taken for a retry of the first and
gets its ARN back (``StartExecution``'s idempotency), one with another input fails with
``ExecutionAlreadyExists``. AWS names each with a UUID."""

from __future__ import annotations

import datetime
import uuid
from typing import Any

from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_sfn import (  # noqa: E501
    StateTaskServiceSfn,
)
from moto.stepfunctions.parser.models import StepFunctionsParserBackend

_normalise_parameters = StateTaskServiceSfn._normalise_parameters
_eval_service_task = StateTaskServiceSfn._eval_service_task
_normalise_response = StateTaskServiceSfn._normalise_response


def _sdk_names(
    self: StateTaskServiceSfn, parameters: dict[str, Any], *args: Any, **kwargs: Any
) -> None:
    _normalise_parameters(self, parameters, *args, **kwargs)
    for key in list(parameters):
        parameters[key[:1].lower() + key[1:]] = parameters.pop(key)


def _aws_value(value: Any) -> Any:
    if isinstance(value, datetime.datetime):
        return int(value.timestamp() * 1000)
    return value


def _pascal_case(response: dict[str, Any]) -> None:
    for key in list(response):
        response[key[:1].upper() + key[1:]] = _aws_value(response.pop(key))


def _answer_as_aws_gives_it(self: StateTaskServiceSfn, env: Any, *args: Any, **kwargs: Any) -> None:
    _eval_service_task(self, env, *args, **kwargs)
    _pascal_case(env.stack[-1])


def _described_as_aws_gives_it(
    self: StateTaskServiceSfn, response: Any, *args: Any, **kwargs: Any
) -> None:
    _normalise_response(self, response, *args, **kwargs)
    if isinstance(response, dict):
        _pascal_case(response)


_start_execution = StepFunctionsParserBackend.start_execution


def _named(
    self: StepFunctionsParserBackend,
    state_machine_arn: str,
    name: Any = None,
    *args: Any,
    **kw: Any,
) -> Any:
    return _start_execution(self, state_machine_arn, name or str(uuid.uuid4()), *args, **kw)


def apply() -> None:
    StepFunctionsParserBackend.start_execution = _named  # type: ignore[method-assign]
    StateTaskServiceSfn._normalise_parameters = _sdk_names  # type: ignore[method-assign]
    StateTaskServiceSfn._eval_service_task = _answer_as_aws_gives_it  # type: ignore[method-assign]
    StateTaskServiceSfn._normalise_response = _described_as_aws_gives_it  # type: ignore[method-assign,assignment]

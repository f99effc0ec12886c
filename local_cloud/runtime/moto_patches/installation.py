"""``apply``: every patch of the package installed once, in this order."""

from __future__ import annotations

import jsonpath_ng
import jsonpath_ng.ext
from moto.core.base_backend import BackendDict
from moto.events import models as events_models
from moto.stepfunctions.parser.asl.component.common.path import result_path
from moto.stepfunctions.parser.asl.eval.callback.callback import CallbackEndpoint
from moto.stepfunctions.parser.asl.utils import json_path
from moto.stepfunctions.parser.backend.execution import Execution
from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker
from moto.stepfunctions.parser.models import StepFunctionsParserBackend
from moto.stepfunctions.responses import StepFunctionResponse

from local_cloud.runtime import moto_dynamodb
from local_cloud.runtime.moto_patches import activities, child_executions
from local_cloud.runtime.moto_patches.engine_clients import (
    _CLIENT_USERS,
    _boto_client_for,
    _Events,
    _events_service_error,
)
from local_cloud.runtime.moto_patches.event_replay import _replay_events
from local_cloud.runtime.moto_patches.overheads import (
    _existing_or_new_backend,
    _parse_extended_jsonpath,
    _parse_jsonpath,
    _program_parsed_once,
)
from local_cloud.runtime.moto_patches.task_tokens import (
    _asking_the_issuer_only,
    _CallbackTask,
    _fresh_token_per_attempt,
    _heartbeat_after_an_early_answer,
    _name_token_errors,
    _registered_start,
    _running_once_listed,
    _send_task_failure,
    _started_executions,
    _token_closed_when_its_attempt_ends,
)

_applied = False


def apply() -> None:
    """Idempotent; affects every moto mock in the process."""
    global _applied
    if not _applied:
        StepFunctionResponse.send_task_failure = _send_task_failure  # type: ignore[method-assign]
        StepFunctionsParserBackend._get_executions = _started_executions  # type: ignore[method-assign]
        Execution.start = _registered_start  # type: ignore[method-assign]
        Execution.status = property(_running_once_listed)  # type: ignore[assignment,method-assign]
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
        child_executions.apply()
        activities.apply()
        _applied = True

"""Gaps in moto 5.2.5 that change what the app observes, filled here (and only here).

* ``SendTaskFailure`` drops its ``cause`` parameter in moto's response layer (its ASL engine
  supports one), so a failed order would lose its reason. ``apply()`` forwards it.
"""

from __future__ import annotations

from typing import Any

from moto.core.responses import ActionResult, EmptyResult
from moto.stepfunctions.responses import StepFunctionResponse

_applied = False


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


def apply() -> None:
    """Idempotent; affects every moto mock in the process."""
    global _applied
    if not _applied:
        StepFunctionResponse.send_task_failure = _send_task_failure  # type: ignore[method-assign]
        _applied = True

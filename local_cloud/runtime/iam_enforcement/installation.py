"""Installation: a botocore hook, in every session created from ``install`` on, that puts each
call before the enforcer installed (one at a time)."""

from __future__ import annotations

from typing import Any

import botocore.handlers

from local_cloud.runtime.iam_enforcement.enforcer import Enforcer

_active: Enforcer | None = None


_PARAMS = "local_cloud.iam.params"


def _keep_params(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
    # ``before-call`` sees the serialised request; the API parameters are kept for it here.
    context[_PARAMS] = params


def _hook(model: Any, request_signer: Any, context: dict[str, Any], **_: Any) -> Any:
    if _active is None or _PARAMS not in context:
        return None
    return _active.before_call(model, context[_PARAMS], request_signer)


_HANDLERS = [("before-parameter-build", _keep_params), ("before-call", _hook)]


def install(enforcer: Enforcer) -> None:
    """Check every call against ``enforcer`` from now on. Sessions created from now on carry the
    hook (a function's session is created when its execution environment starts)."""
    global _active
    _active = enforcer
    for handler in _HANDLERS:
        if handler not in botocore.handlers.BUILTIN_HANDLERS:
            botocore.handlers.BUILTIN_HANDLERS.append(handler)


def uninstall(enforcer: Enforcer) -> None:
    global _active
    if _active is enforcer:
        _active = None

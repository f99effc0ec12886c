"""Powertools' event handler keeps the request it is answering in a class attribute
(``BaseRouter.current_event``, ``BaseRouter.lambda_context``): one per process, which is one per
invocation on Lambda, where an execution environment answers one request at a time. Here the
environments of a function are threads of one process, so two requests answered at once would
read each other's event (a route, a caller, a body). ``install`` makes that state the current
thread's, as it is the current process's on Lambda; what Powertools does with it is unchanged."""

from __future__ import annotations

import threading
from typing import Any

from aws_lambda_powertools.event_handler import api_gateway


class _InvocationState(threading.local):
    """What ``BaseRouter.<name> = ...`` assigns, kept per thread."""


_state = _InvocationState()
_PER_INVOCATION = ("current_event", "lambda_context")


def _per_thread(name: str) -> property:
    def get(_: Any) -> Any:
        try:
            return getattr(_state, name)
        except AttributeError:
            raise AttributeError(f"no {name}: no request is being answered") from None

    def set_(_: Any, value: Any) -> None:
        setattr(_state, name, value)

    return property(get, set_)


def install() -> None:
    """Idempotent. The module's ``BaseRouter`` name (through which Powertools assigns and reads
    the state) becomes the per-thread state, and the class's attributes read it."""
    if isinstance(api_gateway.BaseRouter, _InvocationState):
        return
    router_class = api_gateway.BaseRouter
    for name in _PER_INVOCATION:
        setattr(router_class, name, _per_thread(name))
    api_gateway.BaseRouter = _state  # type: ignore[misc,assignment]

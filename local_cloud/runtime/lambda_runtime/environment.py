"""What a function's code sees as its process, kept per thread: here the invocations of many
functions run at once in one process, each on a thread of its own, where on Lambda each execution
environment is a process. ``os.environ`` and ``sys.stdout`` are stand-ins that show the running
function's variables and route its output to its log sink; each execution environment has its own
boto3 default session and its own instance of the handler's modules; Powertools' Metrics keeps
each thread's metrics apart."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import os
import sys
import threading
from collections.abc import Callable, Iterator, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, TextIO

import boto3
import botocore.session

from local_cloud.runtime import powertools_state

if TYPE_CHECKING:
    from local_cloud.runtime.lambda_runtime.function import LocalFunction
    from local_cloud.runtime.lambda_runtime.logs import FunctionLogSink

_current = threading.local()
_import_lock = threading.RLock()


class ThreadRoutedStream(io.TextIOBase):
    """Stands in for ``sys.stdout``: writes from a thread that is running a Lambda invocation go to
    that function's sink; everything else goes to the real stream."""

    def __init__(self, real: TextIO) -> None:
        self.real = real

    def write(self, text: str) -> int:
        sink: FunctionLogSink | None = getattr(_current, "sink", None)
        if sink is None:
            real = self.real if not getattr(self.real, "closed", False) else sys.__stdout__
            return real.write(text) if real else len(text)
        sink.write(text)
        return len(text)

    def flush(self) -> None:
        self.real.flush()

    def isatty(self) -> bool:
        return self.real.isatty()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.real, "encoding", "utf-8")


def install_stdout_router() -> ThreadRoutedStream:
    """Route handler output to function sinks. Called before every import and invocation of a
    handler: Powertools' Logger binds ``sys.stdout`` when it is created and its Metrics print to
    whatever ``sys.stdout`` is, and test runners swap ``sys.stdout`` between tests."""
    if isinstance(sys.stdout, ThreadRoutedStream):
        return sys.stdout
    router = ThreadRoutedStream(sys.stdout)
    sys.stdout = router
    return router


class _PerThreadDict(MutableMapping[str, Any]):
    """A dict whose contents belong to the thread using it."""

    def __init__(self) -> None:
        self._local = threading.local()

    @property
    def _data(self) -> dict[str, Any]:
        data: dict[str, Any] | None = getattr(self._local, "data", None)
        if data is None:
            data = self._local.data = {}
        return data

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self._data[key] = value

    def __delitem__(self, key: str) -> None:
        del self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)


def isolate_powertools_metrics() -> None:
    """Powertools' Metrics keeps the metrics of the current invocation in class attributes shared
    by every instance: right in Lambda (one invocation per process at a time), wrong here where
    many invocations of many functions run at once in one process — one would flush or clear
    another's metrics. Give each thread (each invocation runs on one) its own metric set. Must run
    before handlers create their ``Metrics``. Default dimensions stay shared (they are set at
    import, on another thread than the invocations), so handlers add dimensions per invocation."""
    from aws_lambda_powertools.metrics.metrics import Metrics

    if not isinstance(Metrics._metrics, _PerThreadDict):
        Metrics._metrics = _PerThreadDict()  # type: ignore[assignment]
        Metrics._dimensions = _PerThreadDict()  # type: ignore[assignment]
        Metrics._metadata = _PerThreadDict()  # type: ignore[assignment]


Handler = Callable[[dict[str, Any], Any], Any]


@dataclass
class _Environment:
    """One execution environment: its instance of the handler module and its boto3 default
    session (each Lambda environment is a process of its own, with its own default session and
    so its own credentials: the function's role)."""

    handler: Handler
    session: boto3.session.Session


_shared_loader: Any = None


def _new_session() -> boto3.session.Session:
    """A fresh default session for an environment. Service models are read from disk once per
    process, not once per environment (a fresh loader costs ~0.1 s per cold start)."""
    global _shared_loader
    core = botocore.session.get_session()
    with _import_lock:
        if _shared_loader is None:
            _shared_loader = core.get_component("data_loader")
        core.register_component("data_loader", _shared_loader)
        session = boto3.session.Session(botocore_session=core)
        # boto3 adds its data path to the loader each time; once is enough.
        paths = _shared_loader.search_paths
        paths[:] = list(dict.fromkeys(paths))
    return session


def install_default_sessions() -> None:
    """Make ``boto3.client(...)`` in a function's code use its environment's session (once)."""
    original = boto3._get_default_session
    if getattr(original, "per_environment", False):
        return

    def per_environment() -> boto3.session.Session:
        session: boto3.session.Session | None = getattr(_current, "boto3_session", None)
        return session if session is not None else original()

    per_environment.per_environment = True  # type: ignore[attr-defined]
    boto3._get_default_session = per_environment


@contextlib.contextmanager
def _default_session(session: boto3.session.Session) -> Iterator[None]:
    previous = getattr(_current, "boto3_session", None)
    _current.boto3_session = session
    try:
        yield
    finally:
        _current.boto3_session = previous


def _import_isolated(function: LocalFunction, module_path: str) -> ModuleType:
    """Import the handler module as a fresh module instance (one execution environment)."""
    relative = Path(*module_path.split("."))
    file = function.code_dir / relative.with_suffix(".py")
    if not file.exists():
        file = function.code_dir / relative / "__init__.py"
    if not file.exists():
        raise ImportError(
            f"{function.name}: handler module {module_path} not in {function.code_dir}"
        )
    # The module keeps its real name, as in every Lambda environment (Powertools' idempotency
    # keys, for one, include it), but it is a new instance, not the one in sys.modules.
    spec = importlib.util.spec_from_file_location(module_path, file)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {file}")
    module = importlib.util.module_from_spec(spec)
    install_stdout_router()
    powertools_state.install()
    # The modules of the handler's own package (``order_api.services``, say) are imported afresh
    # too, as in a Lambda environment's own process: what they make at import (clients,
    # settings) belongs to this environment. While the code runs, the fresh modules are what
    # their names resolve to (pydantic, dataclasses and typing look annotations up through
    # sys.modules); afterwards the previous entries are back. Shared libraries (``loyalty``)
    # hold no per-environment state and stay shared.
    package = module_path.split(".", 1)[0]

    def own(name: str) -> bool:
        return name == package or name.startswith(package + ".")

    with _import_lock, function_environment(function):
        previous = {name: sys.modules.pop(name) for name in [n for n in sys.modules if own(n)]}
        sys.modules[module_path] = module
        try:
            spec.loader.exec_module(module)
        finally:
            for name in [n for n in sys.modules if own(n)]:
                del sys.modules[name]
            sys.modules.update(previous)
    return module


class ThreadEnviron(MutableMapping[str, str]):
    """Stands in for ``os.environ``: a thread running a function sees that function's
    environment variables on top of the process's, without the process environment ever being
    changed (other threads, running other functions, keep seeing theirs)."""

    def __init__(self, base: MutableMapping[str, str]) -> None:
        self.base = base
        self._local = threading.local()

    @property
    def overlay(self) -> dict[str, str] | None:
        return getattr(self._local, "overlay", None)

    @overlay.setter
    def overlay(self, value: dict[str, str] | None) -> None:
        self._local.overlay = value

    def __getitem__(self, key: str) -> str:
        overlay = self.overlay
        if overlay is not None and key in overlay:
            return overlay[key]
        return self.base[key]

    def __setitem__(self, key: str, value: str) -> None:
        overlay = self.overlay
        if overlay is not None:
            overlay[key] = value
        else:
            self.base[key] = value

    def __delitem__(self, key: str) -> None:
        overlay = self.overlay
        if overlay is not None and key in overlay:
            del overlay[key]
        else:
            del self.base[key]

    def __iter__(self) -> Iterator[str]:
        overlay = self.overlay or {}
        yield from overlay
        yield from (key for key in list(self.base) if key not in overlay)

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def copy(self) -> dict[str, str]:
        return dict(self)


def install_thread_environ() -> ThreadEnviron:
    """Replace ``os.environ`` (once) so functions can have their own environment per thread."""
    if not isinstance(os.environ, ThreadEnviron):
        os.environ = ThreadEnviron(os.environ)  # type: ignore[assignment]  # noqa: B003 - on purpose
    assert isinstance(os.environ, ThreadEnviron)
    return os.environ


def running_function_key() -> str | None:
    """The access key of the function whose environment this thread runs, if any."""
    environ = os.environ
    overlay = environ.overlay if isinstance(environ, ThreadEnviron) else None
    return overlay.get("AWS_ACCESS_KEY_ID") if overlay else None


@contextlib.contextmanager
def function_environment(function: LocalFunction) -> Iterator[None]:
    """Run the block as ``function``: its environment variables and its log sink."""
    environ = install_thread_environ()
    previous_overlay, previous_sink = environ.overlay, getattr(_current, "sink", None)
    environ.overlay = {
        **function.environment,
        **function.credentials,
        "AWS_LAMBDA_FUNCTION_NAME": function.name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_mb),
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{function.name}",
    }
    _current.sink = function.log_sink
    try:
        yield
    finally:
        environ.overlay, _current.sink = previous_overlay, previous_sink

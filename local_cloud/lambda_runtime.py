"""In-process Lambda functions (moto's Lambda needs Docker, which is not here).

Each deployed function gets its own instance of its handler module, imported with the function's
environment variables in place (handlers read their configuration at import, as on a cold start).
Invocations run the real handler with a Lambda-like context; what the handler prints (Powertools
logs and EMF metrics) goes to that function's log sink instead of the terminal.

Asynchronous invocations (what EventBridge does) follow Lambda's semantics: on an error the
invocation is retried ``MaximumRetryAttempts`` times (Lambda waits a minute or two; here the
delays are short), then the event goes to the on-failure destination as Lambda's invocation record.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import logging
import os
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, TextIO

LOG = logging.getLogger(__name__)

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


class FunctionLogSink:
    """The function's CloudWatch log group, locally: a file plus the lines in memory. Lines are
    assembled per thread (a logger may write a line in pieces) so that concurrent invocations
    never interleave inside a line."""

    def __init__(self, path: Path | None) -> None:
        self._lock = threading.Lock()
        self._partial = threading.local()
        self.lines: list[str] = []
        self._file = path.open("a", encoding="utf-8") if path else None

    def write(self, text: str) -> None:
        buffered = getattr(self._partial, "text", "") + text
        *complete, self._partial.text = buffered.split("\n")
        if not complete:
            return
        with self._lock:
            for line in complete:
                if line:
                    self.lines.append(line)
                    if self._file:
                        self._file.write(line + "\n")
            if self._file:
                self._file.flush()

    def close(self) -> None:
        if self._file:
            self._file.close()


@dataclass
class LambdaContext:
    function_name: str
    invoked_function_arn: str
    memory_limit_in_mb: int
    aws_request_id: str
    log_group_name: str
    log_stream_name: str
    deadline: float
    function_version: str = "$LATEST"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline - time.monotonic()) * 1000))


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


class LambdaTimeoutError(RuntimeError):
    pass


@dataclass
class InvocationStats:
    invocations: int = 0
    errors: int = 0
    async_failures: int = 0
    cold_starts: int = 0
    duration_ms: float = 0.0

    def gb_seconds(self, memory_mb: int) -> float:
        return self.duration_ms / 1000 * memory_mb / 1024


@dataclass
class AsyncConfig:
    retry_attempts: int = 2
    on_failure_arn: str | None = None


Handler = Callable[[dict[str, Any], Any], Any]


@dataclass
class LocalFunction:
    """A deployed function. Like Lambda, it runs each concurrent invocation in an execution
    environment of its own: a separate instance of the handler module, created on demand (a cold
    start) and reused by later invocations (warm starts). Module-level state (Powertools' batch
    processor, clients, caches) is therefore never shared by two invocations running at once."""

    name: str
    arn: str
    handler: str
    """``module.attribute`` as in the template, e.g. ``order_steps.recognise.handler``."""
    environment: dict[str, str]
    timeout_seconds: float
    memory_mb: int
    code_dir: Path
    log_sink: FunctionLogSink
    async_config: AsyncConfig = field(default_factory=AsyncConfig)
    stats: InvocationStats = field(default_factory=InvocationStats)
    _idle: list[Handler] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def warm(self) -> None:
        """Create one execution environment now (a cold start ahead of the first event)."""
        self._release(self._new_environment())

    def _acquire(self) -> Handler:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        return self._new_environment()

    def _release(self, handler: Handler) -> None:
        with self._lock:
            self._idle.append(handler)

    def _new_environment(self) -> Handler:
        with self._lock:
            self.stats.cold_starts += 1
        module_path, _, attribute = self.handler.rpartition(".")
        module = _import_isolated(self, module_path)
        handler: Handler = getattr(module, attribute)
        return handler

    def invoke(self, event: dict[str, Any]) -> Any:
        """One synchronous invocation; raises what the handler raises (or LambdaTimeoutError)."""
        context = LambdaContext(
            function_name=self.name,
            invoked_function_arn=self.arn,
            memory_limit_in_mb=self.memory_mb,
            aws_request_id=str(uuid.uuid4()),
            log_group_name=f"/aws/lambda/{self.name}",
            log_stream_name="local",
            deadline=time.monotonic() + self.timeout_seconds,
        )
        started = time.perf_counter()
        failed = True
        install_stdout_router()
        with function_environment(self):
            try:
                handler = self._acquire()
                try:
                    result = handler(event, context)
                finally:
                    self._release(handler)
                elapsed = time.perf_counter() - started
                if elapsed > self.timeout_seconds:
                    # A thread cannot be stopped; the work happened, as it may on AWS before the
                    # environment is killed, but the invocation counts as timed out.
                    raise LambdaTimeoutError(
                        f"Task timed out after {self.timeout_seconds:.2f} seconds"
                    )
                failed = False
                return result
            except Exception:
                self.log_sink.write(traceback.format_exc())
                raise
            finally:
                with self._lock:
                    self.stats.invocations += 1
                    self.stats.errors += int(failed)
                    self.stats.duration_ms += (time.perf_counter() - started) * 1000


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
    # While its code runs, the module is what its name resolves to (pydantic, dataclasses and
    # typing look annotations up through sys.modules); afterwards the previous entry is back.
    with _import_lock, function_environment(function):
        previous = sys.modules.get(module_path)
        sys.modules[module_path] = module
        try:
            spec.loader.exec_module(module)
        finally:
            if previous is None:
                del sys.modules[module_path]
            else:
                sys.modules[module_path] = previous
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


@contextlib.contextmanager
def function_environment(function: LocalFunction) -> Iterator[None]:
    """Run the block as ``function``: its environment variables and its log sink."""
    environ = install_thread_environ()
    previous_overlay, previous_sink = environ.overlay, getattr(_current, "sink", None)
    environ.overlay = {
        **function.environment,
        "AWS_LAMBDA_FUNCTION_NAME": function.name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_mb),
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{function.name}",
    }
    _current.sink = function.log_sink
    try:
        yield
    finally:
        environ.overlay, _current.sink = previous_overlay, previous_sink


class AsyncInvoker:
    """Lambda's event (asynchronous) invocation: retries, then the on-failure destination."""

    def __init__(self, *, send_to_queue: Callable[[str, str], None], retry_delay: float) -> None:
        self._send_to_queue = send_to_queue
        self._retry_delay = retry_delay

    def invoke(self, function: LocalFunction, event: dict[str, Any]) -> bool:
        """Returns True if an attempt succeeded."""
        attempts = 1 + function.async_config.retry_attempts
        error: Exception | None = None
        for attempt in range(attempts):
            if attempt:
                time.sleep(self._retry_delay * attempt)
            try:
                function.invoke(event)
                return True
            except Exception as err:
                error = err
        with function._lock:
            function.stats.async_failures += 1
        self._on_failure(function, event, error, attempts)
        return False

    def _on_failure(
        self, function: LocalFunction, event: dict[str, Any], error: Exception | None, attempts: int
    ) -> None:
        destination = function.async_config.on_failure_arn
        if destination is None:
            LOG.warning("%s: event dropped after %d attempts: %s", function.name, attempts, error)
            return
        record = {
            "version": "1.0",
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
            "requestContext": {
                "requestId": str(uuid.uuid4()),
                "functionArn": f"{function.arn}:$LATEST",
                "condition": "RetriesExhausted",
                "approximateInvokeCount": attempts,
            },
            "requestPayload": event,
            "responseContext": {"statusCode": 200, "functionError": "Unhandled"},
            "responsePayload": {
                "errorType": type(error).__name__,
                "errorMessage": str(error),
            },
        }
        self._send_to_queue(destination, json.dumps(record, default=str))

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
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, TextIO

LOG = logging.getLogger(__name__)

_env_lock = threading.RLock()
_current = threading.local()


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
    """The function's CloudWatch log group, locally: a file plus the lines in memory."""

    def __init__(self, path: Path | None) -> None:
        self._lock = threading.Lock()
        self._buffer = ""
        self.lines: list[str] = []
        self._file = path.open("a", encoding="utf-8") if path else None

    def write(self, text: str) -> None:
        with self._lock:
            self._buffer += text
            *complete, self._buffer = self._buffer.split("\n")
            self.lines.extend(line for line in complete if line)
            if self._file:
                self._file.write(text)
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


class LambdaTimeoutError(RuntimeError):
    pass


@dataclass
class InvocationStats:
    invocations: int = 0
    errors: int = 0
    async_failures: int = 0
    duration_ms: float = 0.0

    def gb_seconds(self, memory_mb: int) -> float:
        return self.duration_ms / 1000 * memory_mb / 1024


@dataclass
class AsyncConfig:
    retry_attempts: int = 2
    on_failure_arn: str | None = None


@dataclass
class LocalFunction:
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
    _entry: Callable[[dict[str, Any], Any], Any] | None = None
    _load_lock: threading.Lock = field(default_factory=threading.Lock)
    _stats_lock: threading.Lock = field(default_factory=threading.Lock)

    def _load(self) -> Callable[[dict[str, Any], Any], Any]:
        with self._load_lock:
            if self._entry is None:
                module_path, _, attribute = self.handler.rpartition(".")
                module = _import_isolated(self, module_path)
                self._entry = getattr(module, attribute)
            return self._entry

    def invoke(self, event: dict[str, Any]) -> Any:
        """One synchronous invocation; raises what the handler raises (or LambdaTimeoutError)."""
        entry = self._load()
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
        _current.sink = self.log_sink
        try:
            result = entry(event, context)
            elapsed = time.perf_counter() - started
            if elapsed > self.timeout_seconds:
                # A thread cannot be stopped; the work happened, as it may on AWS before the
                # sandbox is killed, but the invocation counts as timed out.
                raise LambdaTimeoutError(f"Task timed out after {self.timeout_seconds:.2f} seconds")
            failed = False
            return result
        except Exception:
            self.log_sink.write(traceback.format_exc())
            raise
        finally:
            _current.sink = None
            with self._stats_lock:
                self.stats.invocations += 1
                self.stats.errors += int(failed)
                self.stats.duration_ms += (time.perf_counter() - started) * 1000


def _import_isolated(function: LocalFunction, module_path: str) -> ModuleType:
    """Import the handler module as a fresh module instance for this function, with the
    function's environment variables in place while its module-level code runs."""
    relative = Path(*module_path.split("."))
    file = function.code_dir / relative.with_suffix(".py")
    if not file.exists():
        file = function.code_dir / relative / "__init__.py"
    if not file.exists():
        raise ImportError(
            f"{function.name}: handler module {module_path} not in {function.code_dir}"
        )
    unique = f"_local_lambda_.{function.name}.{module_path}"
    spec = importlib.util.spec_from_file_location(unique, file)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {file}")
    module = importlib.util.module_from_spec(spec)
    install_stdout_router()
    with _function_environment(function):
        sink_before = getattr(_current, "sink", None)
        _current.sink = function.log_sink
        try:
            spec.loader.exec_module(module)
        finally:
            _current.sink = sink_before
    return module


@contextlib.contextmanager
def _function_environment(function: LocalFunction) -> Iterator[None]:
    overrides = {
        **function.environment,
        "AWS_LAMBDA_FUNCTION_NAME": function.name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_mb),
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{function.name}",
    }
    with _env_lock:
        saved = {key: os.environ.get(key) for key in overrides}
        os.environ.update(overrides)
        try:
            yield
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


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
        with function._stats_lock:
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

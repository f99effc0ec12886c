"""In-process Lambda functions (moto's Lambda needs Docker, which is not here).

Each deployed function gets its own instance of its handler module, imported with the function's
environment variables in place (handlers read their configuration at import, as on a cold start).
Invocations run the real handler with a Lambda-like context; what the handler prints (Powertools
logs and EMF metrics) goes to that function's log sink instead of the terminal.

Asynchronous invocations (what EventBridge does) follow Lambda's documented semantics and timing
(https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-error-handling.html): a failed
attempt is retried ``MaximumRetryAttempts`` times (0-2), one minute after the first attempt failed
and two minutes after the second; an event older than ``MaximumEventAgeInSeconds`` when its retry
is due is not run. Either way the event then goes to the on-failure destination as Lambda's
invocation record (``condition`` ``RetriesExhausted`` or ``EventAgeExceeded``). Every duration is
multiplied by the invoker's ``time_scale`` (1.0: AWS's timing; a test may pass 1/30 to play a
minute in two seconds). Retries wait on a scheduler, not on the thread that delivered the event.
"""

from __future__ import annotations

import contextlib
import heapq
import importlib.util
import io
import itertools
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
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any, TextIO

import boto3
import botocore.session

from local_cloud.runtime import powertools_state

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
    """Asynchronous events given up on (sent to the on-failure destination, or dropped)."""
    async_retries: int = 0
    """Retry attempts run for asynchronous events."""
    async_expired: int = 0
    """Asynchronous events given up on because they were too old for their retry."""
    cold_starts: int = 0
    duration_ms: float = 0.0

    def gb_seconds(self, memory_mb: int) -> float:
        return self.duration_ms / 1000 * memory_mb / 1024


MAX_RETRY_ATTEMPTS = 2
MIN_EVENT_AGE_SECONDS = 60
MAX_EVENT_AGE_SECONDS = 21600


@dataclass
class AsyncConfig:
    """A function's event invoke config, with Lambda's defaults and limits."""

    retry_attempts: int = MAX_RETRY_ATTEMPTS
    max_event_age_seconds: int = MAX_EVENT_AGE_SECONDS
    on_failure_arn: str | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.retry_attempts <= MAX_RETRY_ATTEMPTS:
            raise ValueError(f"MaximumRetryAttempts {self.retry_attempts} is not in 0-2")
        if not MIN_EVENT_AGE_SECONDS <= self.max_event_age_seconds <= MAX_EVENT_AGE_SECONDS:
            raise ValueError(
                f"MaximumEventAgeInSeconds {self.max_event_age_seconds} is not in 60-21600"
            )


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
    credentials: dict[str, str] = field(default_factory=dict)
    """The execution role's temporary credentials, as the environment variables Lambda sets
    (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``)."""
    async_config: AsyncConfig = field(default_factory=AsyncConfig)
    stats: InvocationStats = field(default_factory=InvocationStats)
    _idle: list[_Environment] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def role_session(self, region: str) -> boto3.session.Session:
        """A session signing with the function's role credentials (what Lambda's own pollers,
        and the function's code, sign with)."""
        return boto3.session.Session(
            aws_access_key_id=self.credentials["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=self.credentials["AWS_SECRET_ACCESS_KEY"],
            aws_session_token=self.credentials["AWS_SESSION_TOKEN"],
            region_name=region,
        )

    def warm(self) -> None:
        """Create one execution environment now (a cold start ahead of the first event)."""
        self._release(self._new_environment())

    def _acquire(self) -> _Environment:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        return self._new_environment()

    def _release(self, environment: _Environment) -> None:
        with self._lock:
            self._idle.append(environment)

    def _new_environment(self) -> _Environment:
        with self._lock:
            self.stats.cold_starts += 1
        module_path, _, attribute = self.handler.rpartition(".")
        install_default_sessions()
        with function_environment(self):
            session = _new_session()
            with _default_session(session):
                module = _import_isolated(self, module_path)
        return _Environment(getattr(module, attribute), session)

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
                environment = self._acquire()
                try:
                    with _default_session(environment.session):
                        result = environment.handler(event, context)
                finally:
                    self._release(environment)
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


class Activity:
    """Work in progress, counted, that can be waited for: the event router's deliveries and the
    invoker's scheduled retries share one, so "nothing in flight" is one reading, never two."""

    def __init__(self) -> None:
        self._count = 0
        self._changed = threading.Condition()

    def begin(self) -> None:
        with self._changed:
            self._count += 1

    def end(self) -> None:
        with self._changed:
            self._count -= 1
            if self._count == 0:
                self._changed.notify_all()

    @property
    def count(self) -> int:
        return self._count

    def wait_idle(self, timeout: float) -> bool:
        """Wait until nothing is in progress. Returns False on timeout."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while self._count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._changed.wait(remaining)
        return True


RETRY_DELAYS_SECONDS = (60.0, 120.0)
"""Lambda's waits after a failed asynchronous attempt: before the second attempt, the third."""


@dataclass
class _AcceptedEvent:
    """An asynchronous invocation Lambda accepted, across its attempts."""

    function: LocalFunction
    event: dict[str, Any]
    accepted_at: float
    """``time.monotonic()`` when Lambda accepted it: its age counts from here."""
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    attempts: int = 0
    error: Exception | None = None


class AsyncInvoker:
    """Lambda's event (asynchronous) invocation: retries at Lambda's times (scaled by
    ``time_scale``), the maximum event age, then the on-failure destination.

    The first attempt runs on the caller's thread (the router's delivery thread, as it is the
    moment Lambda takes the event); a retry waits on the invoker's scheduler and runs on a thread
    of its own, so no delivery thread is held while a retry is pending. Scheduled and running
    retries count in ``activity`` (and ``pending``) until they end."""

    def __init__(
        self,
        *,
        send_to_queue: Callable[[str, str], None],
        time_scale: float = 1.0,
        activity: Activity | None = None,
    ) -> None:
        if time_scale <= 0:
            raise ValueError(f"time_scale must be positive, not {time_scale}")
        self._send_to_queue = send_to_queue
        self.time_scale = time_scale
        self.activity = activity or Activity()
        self._lock = threading.Condition()
        self._due: list[tuple[float, int, _AcceptedEvent]] = []  # a heap, soonest first
        self._sequence = itertools.count()
        self._running: set[threading.Thread] = set()
        self._scheduler: threading.Thread | None = None
        self._stopped = False

    @property
    def pending(self) -> int:
        """Retries waiting for their time or running."""
        with self._lock:
            return len(self._due) + len(self._running)

    def invoke(self, function: LocalFunction, event: dict[str, Any]) -> bool:
        """Lambda accepts ``event`` for ``function`` and makes the first attempt now. Returns
        whether it succeeded; if not, a retry is scheduled or the event is given up on."""
        return self._attempt(_AcceptedEvent(function, event, accepted_at=time.monotonic()))

    def stop(self, timeout: float = 10) -> None:
        """Cancel the retries that have not started (they are neither run nor sent anywhere: the
        cloud is going away) and wait for the running ones."""
        with self._lock:
            self._stopped = True
            cancelled = len(self._due)
            self._due.clear()
            self._lock.notify_all()
            scheduler, running = self._scheduler, list(self._running)
        for _ in range(cancelled):
            self.activity.end()
        if cancelled:
            LOG.info("%d pending Lambda retries cancelled", cancelled)
        if scheduler is not None:
            scheduler.join(timeout)
        for thread in running:
            thread.join(timeout)

    def _attempt(self, accepted: _AcceptedEvent) -> bool:
        function = accepted.function
        try:
            function.invoke(accepted.event)
            return True
        except Exception as err:
            accepted.attempts += 1
            accepted.error = err
        if accepted.attempts <= function.async_config.retry_attempts:
            delay = RETRY_DELAYS_SECONDS[accepted.attempts - 1] * self.time_scale
            self._schedule(accepted, delay)
        else:
            self._give_up(accepted, "RetriesExhausted")
        return False

    def _schedule(self, accepted: _AcceptedEvent, delay: float) -> None:
        with self._lock:
            if self._stopped:
                LOG.info("%s: retry not scheduled, the cloud is stopping", accepted.function.name)
                return
            self.activity.begin()
            heapq.heappush(self._due, (time.monotonic() + delay, next(self._sequence), accepted))
            if self._scheduler is None:
                self._scheduler = threading.Thread(
                    target=self._schedule_loop, name="lambda-async-retries", daemon=True
                )
                self._scheduler.start()
            self._lock.notify_all()

    def _schedule_loop(self) -> None:
        with self._lock:
            while not self._stopped:
                if not self._due:
                    self._lock.wait()
                    continue
                wait = self._due[0][0] - time.monotonic()
                if wait > 0:
                    self._lock.wait(wait)
                    continue
                _, _, accepted = heapq.heappop(self._due)
                thread = threading.Thread(
                    target=self._retry,
                    args=(accepted,),
                    name=f"lambda-retry-{accepted.function.name}",
                    daemon=True,
                )
                self._running.add(thread)
                thread.start()

    def _retry(self, accepted: _AcceptedEvent) -> None:
        function = accepted.function
        try:
            age = time.monotonic() - accepted.accepted_at
            if age > function.async_config.max_event_age_seconds * self.time_scale:
                self._give_up(accepted, "EventAgeExceeded")
            else:
                with function._lock:
                    function.stats.async_retries += 1
                self._attempt(accepted)
        except Exception:  # the retry thread must not die silently
            LOG.exception("%s: retry failed", function.name)
        finally:
            with self._lock:
                self._running.discard(threading.current_thread())
            self.activity.end()

    def _give_up(self, accepted: _AcceptedEvent, condition: str) -> None:
        function = accepted.function
        with function._lock:
            function.stats.async_failures += 1
            function.stats.async_expired += int(condition == "EventAgeExceeded")
        destination = function.async_config.on_failure_arn
        if destination is None:
            LOG.warning(
                "%s: event dropped (%s after %d attempts): %s",
                function.name,
                condition,
                accepted.attempts,
                accepted.error,
            )
            return
        self._send_to_queue(
            destination, json.dumps(invocation_record(accepted, condition), default=str)
        )


def invocation_record(accepted: _AcceptedEvent, condition: str) -> dict[str, Any]:
    """Lambda's invocation record for an event it gave up on, as sent to an on-failure
    destination (https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html).
    The response is the last attempt's."""
    now = datetime.now(UTC)
    error = accepted.error
    return {
        "version": "1.0",
        "timestamp": now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z",
        "requestContext": {
            "requestId": accepted.request_id,
            "functionArn": f"{accepted.function.arn}:$LATEST",
            "condition": condition,
            "approximateInvokeCount": accepted.attempts,
        },
        "requestPayload": accepted.event,
        "responseContext": {
            "statusCode": 200,
            "executedVersion": "$LATEST",
            "functionError": "Unhandled",
        },
        "responsePayload": {
            "errorType": type(error).__name__,
            "errorMessage": str(error),
        },
    }

"""A deployed function and its synchronous invocation: a Lambda-like context, the timeout and
the invocation statistics, each concurrent invocation in an execution environment of its own
(made by ``environment``)."""

from __future__ import annotations

import threading
import time
import traceback
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

from local_cloud.runtime.lambda_runtime.async_invocation import AsyncConfig
from local_cloud.runtime.lambda_runtime.environment import (
    _default_session,
    _Environment,
    _import_isolated,
    _new_session,
    function_environment,
    install_default_sessions,
    install_stdout_router,
)
from local_cloud.runtime.lambda_runtime.logs import FunctionLogSink


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
    """Asynchronous events given up on (sent to the on-failure destination, or dropped)."""
    async_retries: int = 0
    """Retry attempts run for asynchronous events."""
    async_expired: int = 0
    """Asynchronous events given up on because they were too old for their retry."""
    item_failures: int = 0
    """SQS records the function reported failed (``batchItemFailures``): they come back later."""
    cold_starts: int = 0
    duration_ms: float = 0.0

    def gb_seconds(self, memory_mb: int) -> float:
        return self.duration_ms / 1000 * memory_mb / 1024


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

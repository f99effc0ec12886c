"""In-process Lambda functions (moto's Lambda needs Docker, which is not here).

Each deployed function gets its own instance of its handler module, imported with the function's
environment variables in place (handlers read their configuration at import, as on a cold start).
Invocations run the real handler with a Lambda-like context; what the handler prints (Powertools
logs and EMF metrics) goes to that function's log sink instead of the terminal.

One job a module: the deployed function and its synchronous invocation (``function``); what its
code sees as its process, kept per thread — environment variables, stdout, the boto3 default
session, its own module instances, Powertools' metrics (``environment``); its log group
(``logs``); Lambda's asynchronous invocation — retries, maximum event age, on-failure destination
(``async_invocation``). The public names are re-exported here.
"""

from __future__ import annotations

from local_cloud.runtime.lambda_runtime.async_invocation import (
    MAX_EVENT_AGE_SECONDS,
    MAX_RETRY_ATTEMPTS,
    MIN_EVENT_AGE_SECONDS,
    RETRY_DELAYS_SECONDS,
    Activity,
    AsyncConfig,
    AsyncInvoker,
    invocation_record,
)
from local_cloud.runtime.lambda_runtime.environment import (
    Handler,
    ThreadEnviron,
    ThreadRoutedStream,
    function_environment,
    install_default_sessions,
    install_stdout_router,
    install_thread_environ,
    isolate_powertools_metrics,
    running_function_key,
)
from local_cloud.runtime.lambda_runtime.function import (
    InvocationStats,
    LambdaContext,
    LambdaTimeoutError,
    LocalFunction,
)
from local_cloud.runtime.lambda_runtime.logs import FunctionLogSink

__all__ = [
    "MAX_EVENT_AGE_SECONDS",
    "MAX_RETRY_ATTEMPTS",
    "MIN_EVENT_AGE_SECONDS",
    "RETRY_DELAYS_SECONDS",
    "Activity",
    "AsyncConfig",
    "AsyncInvoker",
    "FunctionLogSink",
    "Handler",
    "InvocationStats",
    "LambdaContext",
    "LambdaTimeoutError",
    "LocalFunction",
    "ThreadEnviron",
    "ThreadRoutedStream",
    "function_environment",
    "install_default_sessions",
    "install_stdout_router",
    "install_thread_environ",
    "invocation_record",
    "isolate_powertools_metrics",
    "running_function_key",
]

"""Resuming waiting Step Functions tasks.

A token that is already closed is normal in an at-least-once world: the task timed out, the
answer is a duplicate, or the execution ended. AWS says ``TaskTimedOut`` for a late token, moto
says ``InvalidToken``; either way the answer is dropped (and reported to the caller), never retried
forever. Anything else (throttling, access denied) propagates so the invocation is retried.
"""

from __future__ import annotations

import json
from typing import Any, Final

from botocore.exceptions import ClientError

CLOSED_TOKEN_ERRORS: Final = frozenset({"TaskTimedOut", "InvalidToken", "TaskDoesNotExist"})
MAX_CAUSE_CHARS: Final = 32_768  # SendTaskFailure's limit
MAX_ERROR_CHARS: Final = 256


class TaskTokens:
    def __init__(self, *, client: Any) -> None:
        self._client = client

    def succeed(self, token: str, output: Any) -> str | None:
        """Resume the task with ``output``. Returns None, or the error code if the token was
        already closed."""
        return self._call(
            self._client.send_task_success,
            taskToken=token,
            output=json.dumps(output, separators=(",", ":"), default=str),
        )

    def fail(self, token: str, *, error: str, cause: str) -> str | None:
        """Fail the task with a named error. Returns None, or the closed-token error code."""
        return self._call(
            self._client.send_task_failure,
            taskToken=token,
            error=error[:MAX_ERROR_CHARS],
            cause=cause[:MAX_CAUSE_CHARS],
        )

    @staticmethod
    def _call(method: Any, **kwargs: Any) -> str | None:
        try:
            method(**kwargs)
        except ClientError as err:
            code = str(err.response.get("Error", {}).get("Code", ""))
            if code in CLOSED_TOKEN_ERRORS:
                return code
            raise
        return None

"""Capped exponential backoff with full jitter (the AWS Architecture Blog's recommendation).

Pure and dependency-free: the mediator waits with it, and the CDK config uses the same ceilings
to size the function timeout, the queue's visibility timeout and the vendor step's heartbeat.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

MAX_IN_INVOCATION_WAIT_SECONDS = 1.0
"""The longest the mediator waits inside an invocation for the shared quota or a short pause the
vendor asked for; anything longer puts the request back in the queue."""


@dataclass(frozen=True)
class Backoff:
    base_seconds: float
    cap_seconds: float

    def ceiling(self, attempt: int) -> float:
        """The largest delay before retry number ``attempt`` (0-based)."""
        return min(self.cap_seconds, self.base_seconds * 2 ** min(attempt, 32))

    def delay(self, attempt: int, rand: Callable[[], float] = random.random) -> float:
        return rand() * self.ceiling(attempt)

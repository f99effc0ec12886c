"""Deterministic Step Functions execution names.

The order starter names each execution after its order reference, so a second ``order.received``
for the same order (EventBridge delivers at least once) cannot start a second execution: Step
Functions answers ``ExecutionAlreadyExists`` (or returns the running execution when the input is
identical) for 90 days after a name was used.
"""

from __future__ import annotations

import hashlib
import re

MAX_EXECUTION_NAME = 80
# Execution names may not contain whitespace, brackets, wildcards, control characters or any of
# " # % \ ^ | ~ ` $ & , ; : /. Keep to a conservative subset that is also safe in log queries.
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


def execution_name_for(order_reference: str) -> str:
    """The execution name of an order: the reference itself when it is a valid name, otherwise a
    sanitised prefix plus a hash of the full reference (so distinct references stay distinct)."""
    if not order_reference:
        raise ValueError("order_reference must not be empty")
    safe = _UNSAFE.sub("_", order_reference)
    if safe == order_reference and len(safe) <= MAX_EXECUTION_NAME:
        return safe
    digest = hashlib.sha256(order_reference.encode()).hexdigest()[:16]
    return f"{safe[: MAX_EXECUTION_NAME - len(digest) - 1]}-{digest}"

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


RERUN_SEPARATOR = "+"
"""Between the reference and the attempt of a re-run (``M101+2``): allowed in execution names, not
in order references, so no reference's first run can take a re-run's name."""


def execution_name_for(order_reference: str, attempt: int = 1) -> str:
    """The execution name of an order's ``attempt`` (1: its first run; an operator's re-run is
    ``<name>+<attempt>``): the reference itself when it is a valid name, otherwise a sanitised
    prefix plus a hash of the full reference (so distinct references stay distinct)."""
    if not order_reference:
        raise ValueError("order_reference must not be empty")
    if attempt < 1:
        raise ValueError(f"attempt must be 1 or more, not {attempt}")
    suffix = f"{RERUN_SEPARATOR}{attempt}" if attempt > 1 else ""
    room = MAX_EXECUTION_NAME - len(suffix)
    safe = _UNSAFE.sub("_", order_reference)
    if safe == order_reference and len(safe) <= room:
        return safe + suffix
    digest = hashlib.sha256(order_reference.encode()).hexdigest()[:16]
    return f"{safe[: room - len(digest) - 1]}-{digest}{suffix}"


def execution_arn_for(state_machine_arn: str, order_reference: str, attempt: int = 1) -> str:
    """``arn:<partition>:states:<region>:<account>:execution:<machine>:<name>``."""
    parts = state_machine_arn.split(":")
    if len(parts) != 7 or parts[5] != "stateMachine":
        raise ValueError(f"not a state machine ARN: {state_machine_arn!r}")
    name = execution_name_for(order_reference, attempt)
    return ":".join([*parts[:5], "execution", parts[6], name])


def attempt_of(execution_arn: str) -> int:
    """The attempt an execution ARN (or name) runs: ``<name>+<n>`` is attempt n, anything else
    the order's first run."""
    name = execution_arn.rsplit(":", 1)[-1]
    _, separator, suffix = name.rpartition(RERUN_SEPARATOR)
    if separator and suffix.isascii() and suffix.isdecimal() and int(suffix) > 1:
        return int(suffix)
    return 1


def execution_resources(resources: object) -> tuple[str, ...]:
    """The execution ARNs among an event's ``resources``: the state machine names its execution
    on every vendor request, and the Vendor Mediator repeats it on the answer."""
    if not isinstance(resources, list):
        return ()
    return tuple(r for r in resources if isinstance(r, str) and ":execution:" in r)


def attempt_from_resources(resources: object) -> int:
    """The attempt of the run an event belongs to; an event that names no execution (seed 000's
    shape, a test's) belongs to the order's first run."""
    executions = execution_resources(resources)
    return attempt_of(executions[0]) if executions else 1

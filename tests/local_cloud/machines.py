"""State machine definitions the local-cloud tests run on moto's ASL engine."""

from __future__ import annotations

from typing import Any


def waiting_task(**options: Any) -> dict[str, Any]:
    """A state machine of one task that puts its token on the bus (``detail.token``) and waits;
    ``options`` are the task's own fields (``HeartbeatSeconds``, ``Retry``, ...)."""
    entry = {"Source": "test", "DetailType": "request", "Detail": {"token.$": "$$.Task.Token"}}
    task = {
        "Type": "Task",
        "Resource": "arn:aws:states:::events:putEvents.waitForTaskToken",
        "Parameters": {"Entries": [entry]},
        "End": True,
        **options,
    }
    return {"StartAt": "Wait", "States": {"Wait": task}}

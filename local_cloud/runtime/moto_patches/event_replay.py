"""EventBridge's ``StartReplay``, honouring the replay's time window and
``Destination.FilterArns`` (the package docstring says why)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from moto.core.utils import unix_time
from moto.events import models as events_models


def _epoch_seconds(value: Any) -> float:
    if isinstance(value, (int, float)):
        return float(value)
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()


def _replay_events(self: events_models.Replay, archive: events_models.Archive) -> None:
    backend = events_models.events_backends[self.account_id][self.region]
    bus = backend.describe_event_bus(self.destination["Arn"].split("/")[-1])
    only = set(self.destination.get("FilterArns") or [])
    start = _epoch_seconds(self.event_start_time)
    end = _epoch_seconds(self.event_end_time)
    for event in list(archive.events):
        if not start <= _epoch_seconds(event["time"]) < end:
            continue
        for rule in list(bus.rules.values()):
            if only and rule.arn not in only:
                continue
            replayed: Any = {**event, "id": str(uuid.uuid4()), "replay-name": self.name}
            rule.send_to_targets(replayed, transform_input=False)
    self.state = events_models.ReplayState.COMPLETED
    self.end_time = unix_time()

"""Raw EventBridge patterns (plain dicts, as the event contract writes them) → CDK EventPattern."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_cdk import aws_events as events

_FIELDS = {
    "source": "source",
    "detail-type": "detail_type",
    "detail": "detail",
    "account": "account",
    "region": "region",
    "resources": "resources",
    "id": "id",
    "time": "time",
    "version": "version",
}


def event_pattern_from_dict(pattern: Mapping[str, Any]) -> events.EventPattern:
    """The CDK form of a raw pattern. The synthesised rule renders the same JSON, so the contract
    module's patterns are what EventBridge matches, byte for byte."""
    unknown = set(pattern) - set(_FIELDS)
    if unknown:
        raise ValueError(f"unsupported event pattern fields: {sorted(unknown)}")
    return events.EventPattern(**{_FIELDS[key]: value for key, value in pattern.items()})

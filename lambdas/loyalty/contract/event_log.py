"""What the event log and the archive keep, so that nobody who reads them can resume a task."""

from __future__ import annotations

from typing import Any, Final

from loyalty.contract.order_reference import ORDER_REFERENCE_FIELD
from loyalty.contract.sources import DEFAULT_PREFIX, sources_of
from loyalty.contract.steps import TASK_TOKEN_FIELD
from loyalty.contract.vendor import VENDOR_TOKEN_FIELD

# --- What the event log and the archive keep: never a task token --------------------------------


def token_free_pattern(prefix: str = DEFAULT_PREFIX) -> dict[str, Any]:
    """Events of one copy's sources that carry no task token: the order lifecycle
    (``order.received`` included, which is all a replay needs). Logged and archived whole."""
    return {
        "source": sources_of(prefix),
        "detail": {
            TASK_TOKEN_FIELD: [{"exists": False}],
            "data": {VENDOR_TOKEN_FIELD: [{"exists": False}]},
        },
    }


def token_bearing(prefix: str = DEFAULT_PREFIX) -> dict[str, tuple[dict[str, Any], str]]:
    """The events that carry a task token (step requests and worker answers; vendor requests and
    answers), by family, each with the path of its order reference. The event log keeps a
    one-line summary of each (`event_summary_paths`), never the event, so nobody who can read
    the log can resume a task; the archive keeps none of them (a replay re-drives
    ``order.received``; a replayed step event would carry a closed token)."""
    # Every source of the copy, not only the ones that should carry a token: an event that
    # carries one from any other (a forgery, a client's order with a TaskToken field) is still
    # logged, as a summary.
    sources = sources_of(prefix)
    return {
        "StepEvents": (
            {"source": sources, "detail": {TASK_TOKEN_FIELD: [{"exists": True}]}},
            f"$.detail.{ORDER_REFERENCE_FIELD}",
        ),
        "VendorEvents": (
            {"source": sources, "detail": {"data": {VENDOR_TOKEN_FIELD: [{"exists": True}]}}},
            "$.detail.data.loyalty_order_reference",
        ),
    }


INGESTION_TIME: Final = "<aws.events.event.ingestion-time>"
"""EventBridge's predefined input-transformer variable: when it took the event (ISO 8601)."""

EVENT_SUMMARY_FIELDS: Final = ("order_reference", "source", "detail-type", "type", "status")
"""The words of a summary line, in order, separated by one space (none of them has a space)."""


def event_summary_paths(order_reference_path: str) -> dict[str, str]:
    """Each summary field's JSON path in the event (an EventBridge input transformer's paths)."""
    return {
        "order_reference": order_reference_path,
        "source": "$.source",
        "detail-type": "$.detail-type",
        "type": "$.detail.metadata.type",
        "status": "$.detail.metadata.status",
    }


def parse_event_summary(line: str) -> dict[str, Any] | None:
    """A summary line as the event it summarises (without its token and data), or None if
    ``line`` is not one."""
    words = line.split(" ")
    if len(words) != len(EVENT_SUMMARY_FIELDS) or not all(words):
        return None
    fields = dict(zip(EVENT_SUMMARY_FIELDS, words, strict=True))
    return {
        "source": fields["source"],
        "detail-type": fields["detail-type"],
        "detail": {
            ORDER_REFERENCE_FIELD: fields["order_reference"],
            "metadata": {"type": fields["type"], "status": fields["status"]},
        },
    }

"""Reading orders: the staff's queues by status, an order's record, its timeline and its actions."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from botocore.exceptions import ClientError

from loyalty.adapters.actions_table import public_view
from loyalty.naming import execution_arn_for
from loyalty.order_status import (
    ORDER_RECORD,
    PARTITION_KEY,
    SORT_KEY,
    STATUS_INDEX_ATTRIBUTES,
    STATUS_SINCE,
    ActionStatus,
    OrderStatus,
)
from order_api.cursor import BadCursorError, decode_cursor, encode_cursor
from order_api.replies import ApiError, current, query, respond, url
from order_api.services import actions, orders, sfn, state_machine_arn, tracer

router = Router()


DEFAULT_PAGE = 25
MAX_PAGE = 100
_CURSOR_FIELDS = frozenset({PARTITION_KEY, SORT_KEY, "status", STATUS_SINCE})
_LISTED_FIELDS = ("order_reference", "status", STATUS_SINCE, *STATUS_INDEX_ATTRIBUTES)


def _page_size() -> int:
    raw = query(current(router), "limit")
    if raw is None:
        return DEFAULT_PAGE
    if not (raw.isascii() and raw.isdecimal()) or not 1 <= int(raw) <= MAX_PAGE:
        raise ApiError(HTTPStatus.BAD_REQUEST, f"limit must be a whole number from 1 to {MAX_PAGE}")
    return int(raw)


@router.get("/orders")
@tracer.capture_method
def list_orders() -> Response:
    raw_status = query(current(router), "status")
    try:
        status = OrderStatus(raw_status or "")
    except ValueError as err:
        raise ApiError(
            HTTPStatus.BAD_REQUEST,
            f"status must be one of {', '.join(OrderStatus)}, not {raw_status!r}",
        ) from err
    limit = _page_size()
    cursor = query(current(router), "cursor")
    expect = {"status": status.value, SORT_KEY: ORDER_RECORD}
    try:
        after = decode_cursor(cursor, fields=_CURSOR_FIELDS, expect=expect) if cursor else None
    except BadCursorError as err:
        raise ApiError(HTTPStatus.BAD_REQUEST, str(err)) from err
    found, last = orders.by_status(status, limit=limit, after=after)
    body: dict[str, Any] = {
        "status": status.value,
        "orders": [
            {
                **{k: v for k, v in plain(order).items() if k in _LISTED_FIELDS},
                "status_url": url(current(router), f"/orders/{order[PARTITION_KEY]}"),
            }
            for order in found
        ],
    }
    if last is not None:
        body["next_cursor"] = next_cursor = encode_cursor(last)
        body["next_url"] = url(
            current(router),
            f"/orders?status={status.value}&limit={limit}&cursor={next_cursor}",
        )
    return respond(HTTPStatus.OK, body)


_ITEM_FIELDS = ("kind", "status", "points", "error", "reason", "vendor_references", "updated_at")
_ORDER_FIELDS = (
    "order_reference",
    "status",
    "stage",
    "order_type",
    "loyalty_reference",
    "merchant_reference",
    "currency",
    "net_amount",
    "points",
    "approval_reasons",
    "rejection_reason",
    "created_at",
    "updated_at",
    "completed_at",
    "failed_at",
    "rejected_at",
    "attempt",
    "retries",
    "order_error",
    "order_cause",
    "compensation_ended_at",
    "cancel_requested",
    "cancelled_at",
)


_FAILURE_SHOWN = frozenset(
    {
        OrderStatus.FAILED,
        OrderStatus.NEEDS_RECONCILIATION,
        OrderStatus.COMPENSATING,
        OrderStatus.COMPENSATION_FAILED,
    }
)


def plain(value: Any) -> Any:
    """DynamoDB numbers come back as Decimal: counts as JSON integers (money is stored as
    strings already)."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else str(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def _order_view(item: dict[str, Any], order_actions: list[dict[str, Any]]) -> dict[str, Any]:
    item = plain(item)
    view: dict[str, Any] = {key: item[key] for key in _ORDER_FIELDS if key in item}
    if view.get("status") == OrderStatus.AWAITING_APPROVAL and any(
        a["status"] == ActionStatus.DECIDED for a in order_actions
    ):
        view["status"] = OrderStatus.PROCESSING.value  # approved; the effects are being applied
    if item.get("status") in _FAILURE_SHOWN:
        view["failure"] = {"error": item.get("error"), "cause": item.get("cause")}
    view["items"] = {
        key: {f: value[f] for f in _ITEM_FIELDS if f in value}
        for key, value in (item.get("items") or {}).items()
    }
    view["actions"] = [public_view(a) for a in order_actions]
    return view


def execution_status(reference: str, attempt: int = 1) -> str | None:
    return status_of_execution(execution_arn_for(state_machine_arn, reference, attempt))


def status_of_execution(arn: str) -> str | None:
    """An execution's status, or None if it does not exist."""
    try:
        return str(sfn.describe_execution(executionArn=arn)["status"])
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") == "ExecutionDoesNotExist":
            return None
        raise


def status_before_stored(reference: str) -> str | None:
    """``RECEIVED`` for an order accepted and being recognised or validated (its execution runs,
    nothing is stored yet); None for an order nobody knows."""
    return "RECEIVED" if execution_status(reference) == "RUNNING" else None


def current_status(reference: str) -> str | None:
    """The order's status as ``GET`` shows it (without the actions' view of an approval)."""
    record = orders.order_record(reference)
    return str(record["status"]) if record is not None else status_before_stored(reference)


@router.get("/orders/<reference>")
@tracer.capture_method
def get_order(reference: str) -> Response:
    item = orders.get(reference)
    if item is None:
        if status := status_before_stored(reference):
            return respond(HTTPStatus.OK, {"order_reference": reference, "status": status})
        raise ApiError(HTTPStatus.NOT_FOUND, f"no order {reference}")
    return respond(HTTPStatus.OK, _order_view(item, actions.list(reference)))


MAX_TIMELINE_PAGES = 5
"""Pages of execution history read per run of an order (1,000 events each): the timeline of an
order of thousands of vouchers stops there, and says so."""
_TIMELINE_EVENTS = {
    "ExecutionStarted": "started",
    "TaskStateEntered": "step requested",
    "TaskSucceeded": "step answered",
    "TaskFailed": "step failed",
    "TaskTimedOut": "step timed out",
    "ExecutionSucceeded": "ended",
    "ExecutionFailed": "ended",
    "ExecutionAborted": "ended",
    "ExecutionTimedOut": "ended",
}


@router.get("/orders/<reference>/events")
@tracer.capture_method
def timeline(reference: str) -> Response:
    """The order's timeline: every run's steps from Step Functions' execution history (the
    same on AWS and locally), with what people did (approval, cancellation, re-runs)."""
    record = plain(orders.order_record(reference) or {})
    runs = [r["failed_execution"] for r in record.get("retries", [])]
    runs.append(record.get("execution_id") or execution_arn_for(state_machine_arn, reference))
    entries: list[dict[str, Any]] = []
    truncated = False
    for attempt, arn in enumerate(runs, start=1):
        found, more = _run_timeline(arn, attempt)
        entries += found
        truncated |= more
    if not entries and not record:
        raise ApiError(HTTPStatus.NOT_FOUND, f"no order {reference}")
    for retry in record.get("retries", []):
        entries.append(_person("retry", retry["retried_at"], retry["retried_by"], retry))
    if cancel := record.get("cancel_requested"):
        entries.append(_person("cancel", cancel["at"], cancel["by"], cancel))
    for action in actions.list(reference):
        if action.get("decided_at"):
            entries.append(
                _person(action["decision"], action["decided_at"], action["decided_by"], action)
            )
    entries.sort(key=lambda e: e["at"])
    body: dict[str, Any] = {"order_reference": reference, "status": record.get("status")}
    body["events"] = entries
    if truncated:
        body["truncated"] = True
    return respond(HTTPStatus.OK, body)


def _run_timeline(arn: str, attempt: int) -> tuple[list[dict[str, Any]], bool]:
    entries: list[dict[str, Any]] = []
    # Names, times and errors only: the steps' inputs (task tokens among them) never reach the
    # function.
    arguments: dict[str, Any] = {
        "executionArn": arn,
        "maxResults": 1000,
        "includeExecutionData": False,
    }
    for _ in range(MAX_TIMELINE_PAGES):
        try:
            page = sfn.get_execution_history(**arguments)
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") == "ExecutionDoesNotExist":
                return entries, False
            raise
        for event in page.get("events", []):
            what = _TIMELINE_EVENTS.get(event["type"])
            if what is None:
                continue
            entry = {"at": _iso(event["timestamp"]), "attempt": attempt, "what": what}
            details: dict[str, Any] = next(
                (v for k, v in event.items() if k.endswith("EventDetails")), {}
            )
            if "name" in details:
                entry["step"] = details["name"]
            if "error" in details:
                entry["error"] = details["error"]
            if event["type"].startswith("Execution") and what == "ended":
                entry["execution_status"] = event["type"].removeprefix("Execution").upper()
            entries.append(entry)
        if "nextToken" not in page:
            return entries, False
        arguments["nextToken"] = page["nextToken"]
    return entries, True


def _person(what: str, at: str, by: str, source: dict[str, Any]) -> dict[str, Any]:
    entry = {"at": _iso(datetime.fromisoformat(at)), "what": what, "by": by}
    if source.get("comment"):
        entry["comment"] = source["comment"]
    return entry


def _iso(moment: datetime) -> str:
    """One format for every entry (UTC, milliseconds), so they sort as text."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


@router.get("/orders/<reference>/actions")
@tracer.capture_method
def list_actions(reference: str) -> Response:
    found = actions.list(reference)
    if not found and orders.order_record(reference) is None:
        raise ApiError(HTTPStatus.NOT_FOUND, f"no order {reference}")
    return respond(
        HTTPStatus.OK, {"order_reference": reference, "actions": [public_view(a) for a in found]}
    )

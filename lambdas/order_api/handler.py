"""Order API (seed 002): submit orders, read their status, decide on steps that wait for a person.

Routes (API Gateway REST, proxy integration):

* ``POST /orders`` — validate the body as an order (field-level 400s); put ``order.received``;
  ``202`` with the order reference and its status URL. The order reference is the submission's
  identity: the same order again is a ``200`` with the order's status (nothing put, never a
  second execution); another order under that reference, or one that already exists from
  another channel, is a ``409`` naming it. A ``202`` is only answered for an order that will run:
  the reference is claimed with the body's digest *before* the order is put (``SubmissionsTable``),
  so no other body gets in even if the claiming request dies midway.
* ``GET /orders?status=...`` — the orders in one status (the staff's queues, e.g.
  ``AWAITING_APPROVAL``), newest in it first, a page at a time (``limit``, opaque ``cursor``),
  from the orders table's status index.
* ``GET /orders/{reference}`` — status, per-item statuses, timestamps, failure or rejection reason.
* ``GET /orders/{reference}/actions`` — the steps waiting (or that waited) for a person.
* ``POST /orders/{reference}/actions/retry`` with ``{"comment": ...}`` — an operator re-runs a
  ``FAILED`` order: a new execution that asks the vendor only for what it has not applied (``202``;
  ``409`` with the reason for any other status).
* ``POST /orders/{reference}/actions/{action}`` with ``{"decision": "approve"|"reject",
  "comment": ...}`` — resumes (or fails) the waiting step with the token kept server-side;
  ``409`` if already decided, ``410`` if the step no longer waits, ``403`` if the caller is the
  principal that submitted the order (separation of duties).
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from http import HTTPStatus
from typing import Any, Literal

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from loyalty.adapters.actions_table import ActionsTable, public_view
from loyalty.adapters.claim_check import ClaimCheck, is_claim_check
from loyalty.adapters.event_bus import EventBusPublisher, OutgoingEvent
from loyalty.adapters.orders_table import OrdersTable
from loyalty.adapters.submissions_table import (
    Claimed,
    Submission,
    SubmissionsTable,
    SubmissionState,
)
from loyalty.adapters.task_tokens import TaskTokens
from loyalty.clock import utc_now
from loyalty.contract import (
    APPROVAL_ACTION,
    CANCEL_ACTION,
    RETRY_ACTION,
    Env,
    ErrorName,
    MetricName,
    OrderEvent,
    claim_check_key,
)
from loyalty.domain.errors import FieldProblem, OrderValidationError, UnknownOrderType
from loyalty.domain.recognition import recognise_order
from loyalty.domain.validation import field_path, validate_order
from loyalty.naming import execution_arn_for, execution_name_for
from loyalty.order_status import (
    ORDER_RECORD,
    PARTITION_KEY,
    RERUNNABLE_STATUSES,
    SORT_KEY,
    STATUS_INDEX_ATTRIBUTES,
    STATUS_SINCE,
    ActionStatus,
    OrderStage,
    OrderStatus,
)
from loyalty.settings import require_env
from order_api.cursor import BadCursorError, decode_cursor, encode_cursor

logger = Logger()
tracer = Tracer()
metrics = Metrics()
app = APIGatewayRestResolver()

_dynamodb = boto3.client("dynamodb")
_sfn = boto3.client("stepfunctions")
orders = OrdersTable(client=_dynamodb, table_name=require_env(Env.ORDERS_TABLE))
actions = ActionsTable(client=_dynamodb, table_name=require_env(Env.ACTIONS_TABLE))
tokens = TaskTokens(client=_sfn)
claims = ClaimCheck(client=boto3.client("s3"), bucket=require_env(Env.ORDERS_BUCKET))
state_machine_arn = require_env(Env.STATE_MACHINE_ARN)
publisher = EventBusPublisher(
    client=boto3.client("events"),
    bus_name=require_env(Env.EVENT_BUS),
    source=require_env(Env.EVENT_SOURCE),
)
SUBMISSION_MEMORY_SECONDS = 90 * 24 * 3600
"""As long as Step Functions refuses to start a second execution of the same name: within it, a
repeat is recognised by its body; after it, the orders table still knows the order (409)."""
CLAIM_STALE_SECONDS = 15.0
"""Longer than this function's timeout (10 s): a claim still PUTTING after that belongs to a
request that died, and the same body may take it over."""
IN_PROGRESS_WAITS = (0.1, 0.2, 0.4, 0.8)
"""How long a POST waits for a concurrent POST of the same order to finish putting it."""

submissions = SubmissionsTable(
    client=_dynamodb,
    table_name=require_env(Env.IDEMPOTENCY_TABLE),
    stale_after=CLAIM_STALE_SECONDS,
)


class ApiError(Exception):
    def __init__(
        self, status: HTTPStatus, message: str, details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.details = details or {}


class OperatorAction(BaseModel):
    """The body of an operator's action on an order (``retry``): why, for the record."""

    model_config = ConfigDict(extra="forbid")

    comment: str | None = Field(default=None, max_length=500)


class Decision(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decision: Literal["approve", "reject"]
    comment: str | None = Field(default=None, max_length=500)


def _json(
    status: HTTPStatus, body: dict[str, Any], headers: dict[str, str] | None = None
) -> Response:
    return Response(
        status_code=status.value,
        content_type=content_types.APPLICATION_JSON,
        body=body,
        headers=headers,
    )


def _invalid(problems: list[FieldProblem]) -> Response:
    return _json(
        HTTPStatus.BAD_REQUEST,
        {
            "message": "the request body is invalid",
            "errors": [{"field": p.field, "message": p.message} for p in problems],
        },
    )


@app.exception_handler(ApiError)
def _api_error(error: ApiError) -> Response:
    return _json(error.status, {"message": str(error), **error.details})


@app.exception_handler(OrderValidationError)
def _invalid_order(error: OrderValidationError) -> Response:
    return _invalid(error.problems)


@app.exception_handler(UnknownOrderType)
def _unknown_type(error: UnknownOrderType) -> Response:
    return _invalid([FieldProblem("order_type", str(error))])


@app.exception_handler(ValidationError)
def _invalid_body(error: ValidationError) -> Response:
    return _invalid(
        [FieldProblem(field_path(e["loc"]) or "body", e["msg"]) for e in error.errors()]
    )


def _json_body() -> Any:
    try:
        return app.current_event.json_body
    except ValueError as err:
        raise ApiError(HTTPStatus.BAD_REQUEST, "the request body must be JSON") from err


def _caller() -> str:
    """Who is calling: the IAM principal, or the Cognito user when that authorizer is used."""
    context = app.current_event.request_context
    claims = (context.authorizer.claims or {}) if context.authorizer else {}
    return str(
        claims.get("email")
        or claims.get("sub")
        or context.identity.user_arn
        or context.identity.caller
        or "anonymous"
    )


def _url(path: str) -> str:
    context = app.current_event.request_context
    if context.domain_name:
        scheme = app.current_event.headers.get("X-Forwarded-Proto", "https")
        return f"{scheme}://{context.domain_name}/{context.stage}{path}"
    return path


# -- submitting orders --------------------------------------------------------------------


def _put_order(order: dict[str, Any], digest: str) -> None:
    reference = order["order_reference"]
    # EventBridge takes 1 MB and the state machine 256 KB: a large order travels by claim check
    # (named after its content: another body under the reference never overwrites it).
    payload = claims.inline_or_store(
        claim_check_key(reference, f"submitted-{digest[:16]}.json"), order
    )
    if is_claim_check(payload):
        payload = {"order_reference": reference, **payload}
    publisher.publish([OutgoingEvent(OrderEvent.RECEIVED.value, payload)])
    metrics.add_metric(name=MetricName.ORDER_ACCEPTED, unit=MetricUnit.Count, value=1)


def _claim(reference: str, digest: str, claim: str, accepted_at: str) -> Submission | Claimed:
    """Claim the reference, waiting a moment for a concurrent submission of the same order."""
    for wait in (*IN_PROGRESS_WAITS, None):
        now = time.time()
        held = submissions.claim(
            reference=reference,
            digest=digest,
            claim=claim,
            now=now,
            accepted_at=accepted_at,
            expires_at=int(now) + SUBMISSION_MEMORY_SECONDS,
            submitted_by=_caller(),
        )
        busy = (
            isinstance(held, Submission)
            and held.digest == digest
            and held.state is SubmissionState.PUTTING
        )
        if not busy or wait is None:
            return held
        time.sleep(wait)
    raise AssertionError("unreachable")


@app.post("/orders")
@tracer.capture_method
def submit_order() -> Response:
    body = _json_body()
    if not isinstance(body, dict):
        raise ApiError(HTTPStatus.BAD_REQUEST, "the request body must be a JSON object")
    order = validate_order(recognise_order(body)).model_dump(mode="json")
    reference = order["order_reference"]
    location = _url(f"/orders/{reference}")
    existing = {"order_reference": reference, "status_url": location}
    headers = {"Location": location}
    canonical = json.dumps(order, sort_keys=True, separators=(",", ":"))
    digest = hashlib.sha256(canonical.encode()).hexdigest()
    claim, accepted_at = uuid.uuid4().hex, utc_now()
    held = _claim(reference, digest, claim, accepted_at)
    if isinstance(held, Submission):
        if held.digest != digest:
            raise ApiError(
                HTTPStatus.CONFLICT,
                f"order {reference} already exists with a different body; a new order needs a "
                "new reference",
                existing,
            )
        if held.state is SubmissionState.PUTTING:
            raise ApiError(
                HTTPStatus.CONFLICT,
                f"order {reference} is being submitted by another request; read its status",
                existing,
            )
        # The same order again: where it is now.
        status = _current_status(reference) or "ACCEPTED"
        answer = {"order_reference": reference, "status": status, "accepted_at": held.accepted_at}
        return _json(HTTPStatus.OK, {**answer, "status_url": location}, headers)
    if not held.taken_over and (
        orders.order_record(reference) is not None or _execution_status(reference) is not None
    ):
        # Known without a submission here (it came on the bus, or long ago): its execution
        # would refuse the name, so nothing would run.
        submissions.release(reference=reference, claim=claim)
        raise ApiError(
            HTTPStatus.CONFLICT,
            f"order {reference} already exists (it was not submitted through this API, or long "
            "ago); a new order needs a new reference",
            existing,
        )
    try:
        _put_order(order, digest)
    except Exception:
        submissions.let_go(reference=reference, claim=claim)
        raise
    submissions.mark_put(reference=reference, claim=claim)
    answer = {"order_reference": reference, "status": "ACCEPTED", "accepted_at": accepted_at}
    return _json(HTTPStatus.ACCEPTED, {**answer, "status_url": location}, headers)


# -- reading orders -----------------------------------------------------------------------

DEFAULT_PAGE = 25
MAX_PAGE = 100
_CURSOR_FIELDS = frozenset({PARTITION_KEY, SORT_KEY, "status", STATUS_SINCE})
_LISTED_FIELDS = ("order_reference", "status", STATUS_SINCE, *STATUS_INDEX_ATTRIBUTES)


def _query(name: str) -> str | None:
    return (app.current_event.query_string_parameters or {}).get(name)


def _page_size() -> int:
    raw = _query("limit")
    if raw is None:
        return DEFAULT_PAGE
    if not (raw.isascii() and raw.isdecimal()) or not 1 <= int(raw) <= MAX_PAGE:
        raise ApiError(HTTPStatus.BAD_REQUEST, f"limit must be a whole number from 1 to {MAX_PAGE}")
    return int(raw)


@app.get("/orders")
@tracer.capture_method
def list_orders() -> Response:
    raw_status = _query("status")
    try:
        status = OrderStatus(raw_status or "")
    except ValueError as err:
        raise ApiError(
            HTTPStatus.BAD_REQUEST,
            f"status must be one of {', '.join(OrderStatus)}, not {raw_status!r}",
        ) from err
    limit = _page_size()
    cursor = _query("cursor")
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
                **{k: v for k, v in _plain(order).items() if k in _LISTED_FIELDS},
                "status_url": _url(f"/orders/{order[PARTITION_KEY]}"),
            }
            for order in found
        ],
    }
    if last is not None:
        body["next_cursor"] = next_cursor = encode_cursor(last)
        body["next_url"] = _url(f"/orders?status={status.value}&limit={limit}&cursor={next_cursor}")
    return _json(HTTPStatus.OK, body)


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


def _plain(value: Any) -> Any:
    """DynamoDB numbers come back as Decimal: counts as JSON integers (money is stored as
    strings already)."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else str(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _order_view(item: dict[str, Any], order_actions: list[dict[str, Any]]) -> dict[str, Any]:
    item = _plain(item)
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


def _execution_status(reference: str, attempt: int = 1) -> str | None:
    return _status_of_execution(execution_arn_for(state_machine_arn, reference, attempt))


def _status_of_execution(arn: str) -> str | None:
    """An execution's status, or None if it does not exist."""
    try:
        return str(_sfn.describe_execution(executionArn=arn)["status"])
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") == "ExecutionDoesNotExist":
            return None
        raise


def _status_before_stored(reference: str) -> str | None:
    """``RECEIVED`` for an order accepted and being recognised or validated (its execution runs,
    nothing is stored yet); None for an order nobody knows."""
    return "RECEIVED" if _execution_status(reference) == "RUNNING" else None


def _current_status(reference: str) -> str | None:
    """The order's status as ``GET`` shows it (without the actions' view of an approval)."""
    record = orders.order_record(reference)
    return str(record["status"]) if record is not None else _status_before_stored(reference)


@app.get("/orders/<reference>")
@tracer.capture_method
def get_order(reference: str) -> Response:
    item = orders.get(reference)
    if item is None:
        if status := _status_before_stored(reference):
            return _json(HTTPStatus.OK, {"order_reference": reference, "status": status})
        raise ApiError(HTTPStatus.NOT_FOUND, f"no order {reference}")
    return _json(HTTPStatus.OK, _order_view(item, actions.list(reference)))


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


@app.get("/orders/<reference>/events")
@tracer.capture_method
def timeline(reference: str) -> Response:
    """The order's timeline: every run's steps from Step Functions' execution history (the
    same on AWS and locally), with what people did (approval, cancellation, re-runs)."""
    record = _plain(orders.order_record(reference) or {})
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
    return _json(HTTPStatus.OK, body)


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
            page = _sfn.get_execution_history(**arguments)
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


@app.get("/orders/<reference>/actions")
@tracer.capture_method
def list_actions(reference: str) -> Response:
    found = actions.list(reference)
    if not found and orders.order_record(reference) is None:
        raise ApiError(HTTPStatus.NOT_FOUND, f"no order {reference}")
    return _json(
        HTTPStatus.OK, {"order_reference": reference, "actions": [public_view(a) for a in found]}
    )


# -- repairing ----------------------------------------------------------------------------

_NOT_RERUNNABLE = {
    OrderStatus.COMPLETED: "it is COMPLETED: there is nothing to re-run",
    OrderStatus.REJECTED: "a person rejected it (or nobody approved it in time): that is final",
    OrderStatus.NEEDS_RECONCILIATION: (
        "the outcome of a vendor effect is unknown: reconcile it with the vendor first"
    ),
    OrderStatus.PROCESSING: "it is still running",
    OrderStatus.COMPENSATING: "its applied effects are being reversed",
    OrderStatus.CANCELLED: "it was cancelled",
    OrderStatus.AWAITING_APPROVAL: "it is still running (waiting for approval)",
}


@app.post(f"/orders/<reference>/actions/{RETRY_ACTION}")
@tracer.capture_method
def retry(reference: str) -> Response:
    action = OperatorAction.model_validate(_json_body())
    record = orders.order_record(reference)
    if record is None and _execution_status(reference) != "FAILED":
        raise ApiError(HTTPStatus.NOT_FOUND, f"no order {reference}")
    if record is None or "order" not in record:
        # Its failure was recorded, but there is no stored order to run again.
        raise ApiError(
            HTTPStatus.CONFLICT,
            f"order {reference} cannot be re-run: it failed before it was stored (it was not "
            "recognised or not valid); submit a corrected order under a new reference",
        )
    record = _plain(record)
    status, attempt = OrderStatus(record["status"]), int(record.get("attempt", 1))
    if (
        record.get("stage") == OrderStage.RESTARTED
        and _execution_status(reference, attempt) is None
    ):
        # A re-run was given the order but its execution never started (this function stopped
        # in between, or Step Functions refused): start it now.
        return _start_rerun(reference, record, attempt, (record.get("retries") or [{}])[-1])
    stuck = (
        status is OrderStatus.COMPENSATING
        and _status_of_execution(record["execution_id"]) != "RUNNING"
    )
    if status not in RERUNNABLE_STATUSES and not stuck:
        raise ApiError(
            HTTPStatus.CONFLICT,
            f"order {reference} cannot be re-run: {_NOT_RERUNNABLE[status]}",
            {"status": status.value},
        )
    attempt += 1
    now = utc_now()
    retry = {
        "attempt": attempt,
        "status": status.value,
        "failed_execution": record["execution_id"],
        "error": record.get("error"),
        "cause": record.get("cause"),
        # What the order failed with, before its compensation failed too.
        "order_error": record.get("order_error", record.get("error")),
        "order_cause": record.get("order_cause", record.get("cause")),
        "failed_at": record.get("failed_at"),
        "retried_by": _caller(),
        "retried_at": now,
        "comment": action.comment,
    }
    restarted = orders.restart(
        order_reference=reference,
        failed_execution=record["execution_id"],
        execution_id=execution_arn_for(state_machine_arn, reference, attempt),
        attempt=attempt,
        retry=retry,
        now=now,
    )
    if not restarted:
        raise ApiError(
            HTTPStatus.CONFLICT,
            f"order {reference} changed while it was being re-run (another operator's action "
            "came first); read its status",
        )
    metrics.add_metric(name=MetricName.ORDER_RERUN, unit=MetricUnit.Count, value=1)
    return _start_rerun(reference, record, attempt, retry)


def _start_rerun(
    reference: str, record: dict[str, Any], attempt: int, retry: dict[str, Any]
) -> Response:
    """Start the execution of ``attempt`` with the order as it was stored. Its name is the
    attempt's, so a repeated start is Step Functions' idempotent success, never a second run.
    The re-run of a ``COMPENSATION_FAILED`` order only compensates (``compensate_only``): it
    asks again for the reversals that were not made, and ends with the order's own failure."""
    run: dict[str, Any] = {
        "order_reference": reference,
        "received_at": record.get("created_at"),
        "event_id": f"{RETRY_ACTION}-{attempt}",
        "order": record["order"],
    }
    if retry.get("status") in (OrderStatus.COMPENSATION_FAILED, OrderStatus.COMPENSATING):
        # (COMPENSATING: its run ended without settling the compensation.)
        run["compensate_only"] = True
        run["error"] = {"Error": retry.get("order_error"), "Cause": retry.get("order_cause")}
    try:
        started = _sfn.start_execution(
            stateMachineArn=state_machine_arn,
            name=execution_name_for(reference, attempt),
            input=json.dumps(run),
        )
    except ClientError as err:
        logger.exception("re-run not started")
        raise ApiError(
            HTTPStatus.SERVICE_UNAVAILABLE,
            f"the re-run of order {reference} could not be started; send the retry again",
        ) from err
    location = _url(f"/orders/{reference}")
    return _json(
        HTTPStatus.ACCEPTED,
        {
            "order_reference": reference,
            "status": OrderStatus.PROCESSING.value,
            "attempt": attempt,
            "execution_arn": started["executionArn"],
            "status_url": location,
        },
        {"Location": location},
    )


_NOT_CANCELLABLE = {
    OrderStatus.COMPLETED: "it is COMPLETED",
    OrderStatus.FAILED: "it FAILED already",
    OrderStatus.REJECTED: "it was rejected",
    OrderStatus.CANCELLED: "it is cancelled already",
    OrderStatus.NEEDS_RECONCILIATION: "it ended with an effect whose outcome is unknown",
    OrderStatus.COMPENSATION_FAILED: "it failed, and its effects could not all be reversed",
    OrderStatus.COMPENSATING: "it failed, and its effects are being reversed",
}


@app.post(f"/orders/<reference>/actions/{CANCEL_ACTION}")
@tracer.capture_method
def cancel(reference: str) -> Response:
    action = OperatorAction.model_validate(_json_body())
    record = orders.order_record(reference)
    if record is None:
        if _status_before_stored(reference):
            raise ApiError(
                HTTPStatus.CONFLICT,
                f"order {reference} is being received; cancel it once it is stored (in a moment)",
                {"status": "RECEIVED"},
            )
        raise ApiError(HTTPStatus.NOT_FOUND, f"no order {reference}")
    now, by = utc_now(), _caller()
    requested = {"by": by, "at": now, "comment": action.comment}
    cancelled = orders.request_cancel(order_reference=reference, cancel=requested, now=now)
    if cancelled is None:
        current = _plain(orders.order_record(reference) or record)
        if "cancel_requested" in current:
            raise ApiError(
                HTTPStatus.CONFLICT,
                f"order {reference} was cancelled already by {current['cancel_requested']['by']}",
                {"status": current["status"]},
            )
        status = OrderStatus(current["status"])
        why = _NOT_CANCELLABLE.get(status, f"it changed meanwhile (now {status.value})")
        raise ApiError(
            HTTPStatus.CONFLICT,
            f"order {reference} cannot be cancelled: {why}",
            {"status": status.value},
        )
    metrics.add_metric(name=MetricName.CANCEL_REQUESTED, unit=MetricUnit.Count, value=1)
    # A person may be asked to approve it: the cancellation takes that decision (one of the two
    # wins the action). Otherwise the order's next step stops it, and one that already applied
    # effects has them reversed first.
    claimed = actions.claim(
        order_reference=reference,
        action=APPROVAL_ACTION,
        decision=CANCEL_ACTION,
        comment=action.comment,
        decided_by=by,
        decided_at=now,
        now=int(time.time()),
    )
    if claimed is not None:
        try:
            tokens.fail(
                claimed["task_token"],
                error=ErrorName.ORDER_CANCELLED.value,
                cause=f"cancelled by {by}" + (f": {action.comment}" if action.comment else ""),
            )
        except ClientError:
            # The order is marked: its next step (or the approval's timeout) stops it anyway.
            logger.exception("cancellation not delivered to the waiting approval")
    location = _url(f"/orders/{reference}")
    return _json(
        HTTPStatus.ACCEPTED,
        {
            "order_reference": reference,
            "status": str(cancelled["status"]),
            "cancel_requested": requested,
            "status_url": location,
        },
        {"Location": location},
    )


# -- deciding -----------------------------------------------------------------------------

_DECISION_METRICS = {"approve": MetricName.APPROVAL_GRANTED, "reject": MetricName.APPROVAL_DENIED}


def _refuse(reference: str, action: str, item: dict[str, Any] | None, now: int) -> ApiError:
    """Why a decision cannot be taken on ``item`` (already decided, or no longer waiting)."""
    if item is None:
        return ApiError(HTTPStatus.NOT_FOUND, f"no action {action!r} on order {reference}")
    if item["status"] == ActionStatus.DECIDED:
        return ApiError(
            HTTPStatus.CONFLICT,
            f"{action} was already decided: {item.get('decision')} by "
            f"{item.get('decided_by')} at {item.get('decided_at')}",
        )
    if item["status"] == ActionStatus.PENDING and int(item["expires_at"]) <= now:
        actions.expire(order_reference=reference, action=action)
    return ApiError(HTTPStatus.GONE, f"the {action} step of order {reference} is no longer waiting")


def _separate_duties(reference: str, action: str, caller: str) -> None:
    """The principal that submitted an order through this API does not decide its approval."""
    if action != APPROVAL_ACTION:
        return
    submission = submissions.get(reference)
    if submission is not None and submission.submitted_by == caller:
        raise ApiError(
            HTTPStatus.FORBIDDEN,
            f"{caller} submitted order {reference} and may not decide its {action}: "
            "another principal must (separation of duties)",
        )


@app.post("/orders/<reference>/actions/<action>")
@tracer.capture_method
def decide(reference: str, action: str) -> Response:
    decision = Decision.model_validate(_json_body())
    now = int(time.time())
    decided_at = utc_now()
    caller = _caller()
    _separate_duties(reference, action, caller)
    claimed = actions.claim(
        order_reference=reference,
        action=action,
        decision=decision.decision,
        comment=decision.comment,
        decided_by=caller,
        decided_at=decided_at,
        now=now,
    )
    if claimed is None:
        raise _refuse(reference, action, actions.get(reference, action), now)
    try:
        if decision.decision == "approve":
            closed = tokens.succeed(
                claimed["task_token"],
                {
                    "decision": "approve",
                    "comment": decision.comment,
                    "decided_by": claimed["decided_by"],
                },
            )
        else:
            closed = tokens.fail(
                claimed["task_token"],
                error=ErrorName.ORDER_REJECTED.value,
                cause=f"rejected by {claimed['decided_by']}"
                + (f": {decision.comment}" if decision.comment else ""),
            )
    except ClientError as err:
        actions.release(order_reference=reference, action=action, decided_at=decided_at)
        logger.exception("decision not delivered")
        raise ApiError(
            HTTPStatus.SERVICE_UNAVAILABLE, "the decision could not be delivered; try again"
        ) from err
    if closed:
        actions.expire(order_reference=reference, action=action)
        raise ApiError(
            HTTPStatus.GONE, f"the {action} step of order {reference} is no longer waiting"
        )
    if decision.decision == "approve":
        # Out of the staff's queue (a rejection is recorded by the order's own step). The
        # decision is delivered already: a failed mark is logged, not answered as an error.
        try:
            orders.approved(
                order_reference=reference, execution_id=claimed["execution_id"], now=decided_at
            )
        except ClientError:
            logger.exception("approved order not marked PROCESSING: in the queue until it ends")
    metrics.add_metric(name=_DECISION_METRICS[decision.decision], unit=MetricUnit.Count, value=1)
    return _json(
        HTTPStatus.OK,
        {
            "order_reference": reference,
            "action": action,
            "status": ActionStatus.DECIDED.value,
            "decision": decision.decision,
            "decided_by": claimed["decided_by"],
            "decided_at": decided_at,
        },
    )


@logger.inject_lambda_context(correlation_id_path="pathParameters.reference")
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)

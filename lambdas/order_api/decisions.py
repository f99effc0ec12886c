"""What people do to an order: an operator re-runs or cancels it, staff decide its approval."""

from __future__ import annotations

import json
import time
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.metrics import MetricUnit
from botocore.exceptions import ClientError

from loyalty.adapters.event_bus import EventPublishError
from loyalty.clock import utc_now
from loyalty.contract import (
    APPROVAL_ACTION,
    CANCEL_ACTION,
    RETRY_ACTION,
    ErrorName,
    MetricName,
    OrderEvent,
    Source,
)
from loyalty.events import order_lifecycle_event
from loyalty.naming import execution_arn_for, execution_name_for
from loyalty.order_status import RERUNNABLE_STATUSES, ActionStatus, OrderStage, OrderStatus
from order_api.bodies import Decision, OperatorAction
from order_api.replies import ApiError, caller, current, json_body, respond, url
from order_api.services import (
    actions,
    logger,
    metrics,
    orders,
    publisher,
    settings,
    sfn,
    state_machine_arn,
    submissions,
    tokens,
    tracer,
)
from order_api.views import execution_status, plain, status_before_stored, status_of_execution

router = Router()


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


@router.post(f"/orders/<reference>/actions/{RETRY_ACTION}")
@tracer.capture_method
def retry(reference: str) -> Response:
    action = OperatorAction.model_validate(json_body(current(router)))
    record = orders.order_record(reference)
    if record is None and execution_status(reference) != "FAILED":
        raise ApiError(HTTPStatus.NOT_FOUND, f"no order {reference}")
    if record is None or "order" not in record:
        # Its failure was recorded, but there is no stored order to run again.
        raise ApiError(
            HTTPStatus.CONFLICT,
            f"order {reference} cannot be re-run: it failed before it was stored (it was not "
            "recognised or not valid); submit a corrected order under a new reference",
        )
    record = plain(record)
    status, attempt = OrderStatus(record["status"]), int(record.get("attempt", 1))
    if record.get("stage") == OrderStage.RESTARTED and execution_status(reference, attempt) is None:
        # A re-run was given the order but its execution never started (this function stopped
        # in between, or Step Functions refused): start it now.
        return _start_rerun(reference, record, attempt, (record.get("retries") or [{}])[-1])
    stuck = (
        status is OrderStatus.COMPENSATING
        and status_of_execution(record["execution_id"]) != "RUNNING"
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
        "retried_by": caller(current(router)),
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
        started = sfn.start_execution(
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
    location = url(current(router), f"/orders/{reference}")
    return respond(
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


@router.post(f"/orders/<reference>/actions/{CANCEL_ACTION}")
@tracer.capture_method
def cancel(reference: str) -> Response:
    action = OperatorAction.model_validate(json_body(current(router)))
    record = orders.order_record(reference)
    if record is None:
        if status_before_stored(reference):
            raise ApiError(
                HTTPStatus.CONFLICT,
                f"order {reference} is being received; cancel it once it is stored (in a moment)",
                {"status": "RECEIVED"},
            )
        raise ApiError(HTTPStatus.NOT_FOUND, f"no order {reference}")
    now, by = utc_now(), caller(current(router))
    requested = {"by": by, "at": now, "comment": action.comment}
    cancelled = orders.request_cancel(order_reference=reference, cancel=requested, now=now)
    if cancelled is None:
        now_stored = plain(orders.order_record(reference) or record)
        if "cancel_requested" in now_stored:
            raise ApiError(
                HTTPStatus.CONFLICT,
                f"order {reference} was cancelled already by "
                f"{now_stored['cancel_requested']['by']}",
                {"status": now_stored["status"]},
            )
        status = OrderStatus(now_stored["status"])
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
    location = url(current(router), f"/orders/{reference}")
    return respond(
        HTTPStatus.ACCEPTED,
        {
            "order_reference": reference,
            "status": str(cancelled["status"]),
            "cancel_requested": requested,
            "status_url": location,
        },
        {"Location": location},
    )


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


def _separate_duties(reference: str, action: str, by: str) -> None:
    """The principal that submitted an order through this API does not decide its approval."""
    if action != APPROVAL_ACTION:
        return
    submission = submissions.get(reference)
    if submission is not None and submission.submitted_by == by:
        raise ApiError(
            HTTPStatus.FORBIDDEN,
            f"{by} submitted order {reference} and may not decide its {action}: "
            "another principal must (separation of duties)",
        )


def _announce(reference: str, action: str, decision: Decision, *, decided_by: str, at: str) -> None:
    """``order.decided`` on the bus (the event log, the order's timeline): who decided what and
    when. The decision is delivered already: an event that could not be put is logged."""
    try:
        publisher.publish(
            [
                order_lifecycle_event(
                    OrderEvent.DECIDED,
                    domain=settings.domain,
                    order_reference=reference,
                    service=Source.ORDER_INTAKE,
                    data={
                        "action": action,
                        "decision": decision.decision,
                        "comment": decision.comment,
                        "decided_by": decided_by,
                        "decided_at": at,
                    },
                )
            ]
        )
    except (ClientError, EventPublishError):
        logger.exception("order.decided not put: the decision stands, the timeline lacks it")


@router.post("/orders/<reference>/actions/<action>")
@tracer.capture_method
def decide(reference: str, action: str) -> Response:
    decision = Decision.model_validate(json_body(current(router)))
    now = int(time.time())
    decided_at = utc_now()
    by = caller(current(router))
    _separate_duties(reference, action, by)
    claimed = actions.claim(
        order_reference=reference,
        action=action,
        decision=decision.decision,
        comment=decision.comment,
        decided_by=by,
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
    _announce(reference, action, decision, decided_by=claimed["decided_by"], at=decided_at)
    metrics.add_metric(name=_DECISION_METRICS[decision.decision], unit=MetricUnit.Count, value=1)
    return respond(
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

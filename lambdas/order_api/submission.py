"""Submitting orders: ``POST /orders``, exactly once per order reference."""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.metrics import MetricUnit

from loyalty.adapters.claim_check import is_claim_check
from loyalty.adapters.event_bus import OutgoingEvent
from loyalty.adapters.submissions_table import Claimed, Submission, SubmissionState
from loyalty.clock import utc_now
from loyalty.contract import MetricName, OrderEvent, claim_check_key
from loyalty.domain.recognition import recognise_order
from loyalty.domain.validation import validate_order
from order_api.replies import ApiError, caller, current, json_body, respond, url
from order_api.services import claims, metrics, orders, publisher, submissions, tracer
from order_api.views import current_status, execution_status

router = Router()

SUBMISSION_MEMORY_SECONDS = 90 * 24 * 3600
"""As long as Step Functions refuses to start a second execution of the same name: within it, a
repeat is recognised by its body; after it, the orders table still knows the order (409)."""
IN_PROGRESS_WAITS = (0.1, 0.2, 0.4, 0.8)
"""How long a POST waits for a concurrent POST of the same order to finish putting it."""


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
            submitted_by=caller(current(router)),
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


@router.post("/orders")
@tracer.capture_method
def submit_order() -> Response:
    body = json_body(current(router))
    if not isinstance(body, dict):
        raise ApiError(HTTPStatus.BAD_REQUEST, "the request body must be a JSON object")
    order = validate_order(recognise_order(body)).model_dump(mode="json")
    reference = order["order_reference"]
    location = url(current(router), f"/orders/{reference}")
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
        status = current_status(reference) or "ACCEPTED"
        answer = {"order_reference": reference, "status": status, "accepted_at": held.accepted_at}
        return respond(HTTPStatus.OK, {**answer, "status_url": location}, headers)
    if not held.taken_over and (
        orders.order_record(reference) is not None or execution_status(reference) is not None
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
    return respond(HTTPStatus.ACCEPTED, {**answer, "status_url": location}, headers)

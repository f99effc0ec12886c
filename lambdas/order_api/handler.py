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

from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from loyalty.domain.errors import FieldProblem, OrderValidationError, UnknownOrderType
from loyalty.domain.validation import field_path
from order_api import decisions, submission, views
from order_api.replies import ApiError, invalid, json_line, respond
from order_api.services import logger, metrics, orders, publisher, sfn, submissions, tracer

# The adapters, for tests that stand in for a failing service.
__all__ = ["handler", "orders", "publisher", "sfn", "submissions"]

app = APIGatewayRestResolver(serializer=json_line)
app.include_router(submission.router)
app.include_router(views.router)
# Its fixed actions (retry, cancel) before the decision on any other action.
app.include_router(decisions.router)


@app.exception_handler(ApiError)
def _api_error(error: ApiError) -> Response:
    return respond(error.status, {"message": str(error), **error.details})


@app.exception_handler(OrderValidationError)
def _invalid_order(error: OrderValidationError) -> Response:
    return invalid(error.problems)


@app.exception_handler(UnknownOrderType)
def _unknown_type(error: UnknownOrderType) -> Response:
    return invalid([FieldProblem("order_type", str(error))])


@app.exception_handler(ValidationError)
def _invalid_body(error: ValidationError) -> Response:
    return invalid([FieldProblem(field_path(e["loc"]) or "body", e["msg"]) for e in error.errors()])


@logger.inject_lambda_context(correlation_id_path="pathParameters.reference")
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)

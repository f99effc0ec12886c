"""Order starter: ``order.received`` → one order-processing execution per order reference.

The events come through an SQS buffer (``loyalty.adapters.event_buffer``): a start that
Step Functions throttles is retried with backoff until the queue's receive limit, not given up
after Lambda's three minutes of retries.

The execution is named after the order reference (`loyalty.naming`), so a redelivered or
resubmitted ``order.received`` cannot start a second execution, and therefore cannot cause a
second set of vendor effects. An event without a usable order reference cannot be deduplicated
and is refused: it goes to the buffer's dead-letter queue at once, with the reason.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError

from loyalty.adapters.claim_check import ClaimCheck, is_claim_check
from loyalty.adapters.event_buffer import EventBuffer
from loyalty.contract import (
    CLAIM_CHECK_FIELD,
    ORDER_REFERENCE_FIELD,
    MetricName,
    claim_check_key,
    order_reference_problem,
)
from loyalty.naming import execution_name_for
from order_starter.settings import StarterSettings

logger = Logger()
tracer = Tracer()
metrics = Metrics()
sfn = boto3.client("stepfunctions")
settings = StarterSettings.from_environment()
buffer = EventBuffer.of(settings, sqs=boto3.client("sqs"), logger=logger)
state_machine_arn = settings.state_machine_arn
claims = ClaimCheck(client=boto3.client("s3"), bucket=settings.orders_bucket)


class InvalidOrderEventError(ValueError):
    """The event cannot start an execution; it goes to the DLQ with this message."""


def execution_input(event: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The order reference and the execution input of an ``order.received`` event. The order
    travels inline, or by claim check when it is too large for the state machine (the Order API
    already stored it, or this function stores it now)."""
    detail = event.get("detail")
    if not isinstance(detail, dict):
        raise InvalidOrderEventError(f"event {event.get('id')}: detail must be a JSON object")
    reference = detail.get(ORDER_REFERENCE_FIELD)
    problem = order_reference_problem(reference)
    if problem is not None:
        # Before anything uses it: the execution name, the table key and the vendor's
        # idempotency keys are all this one value, as sent.
        raise InvalidOrderEventError(
            f"event {event.get('id')}: detail.{ORDER_REFERENCE_FIELD} {problem}"
        )
    assert isinstance(reference, str)
    if is_claim_check(detail):
        order = {CLAIM_CHECK_FIELD: detail[CLAIM_CHECK_FIELD]}
    else:
        order = claims.inline_or_store(
            claim_check_key(reference, f"received-{event.get('id')}.json"), detail
        )
    return reference, {
        "order_reference": reference,
        "received_at": event.get("time"),
        "event_id": event.get("id"),
        "order": order,
    }


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """A batch of ``order.received`` events from the buffer queue."""
    return buffer.handle_batch(event, context, handle=start, refused=(InvalidOrderEventError,))


def start(event: dict[str, Any]) -> dict[str, Any]:
    """Start the execution of one ``order.received`` event (at most one per reference)."""
    reference, payload = execution_input(event)
    logger.append_keys(order_reference=reference)
    name = execution_name_for(reference)
    try:
        response = sfn.start_execution(
            stateMachineArn=state_machine_arn, name=name, input=json.dumps(payload)
        )
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") != "ExecutionAlreadyExists":
            raise
        logger.warning("duplicate order.received ignored", extra={"execution_name": name})
        metrics.add_metric(name=MetricName.DUPLICATE_ORDER_RECEIVED, unit=MetricUnit.Count, value=1)
        return {"started": False, "execution_name": name}
    metrics.add_metric(name=MetricName.ORDER_STARTED, unit=MetricUnit.Count, value=1)
    return {"started": True, "execution_arn": response["executionArn"]}

"""Token Handler (seed 000 step 5): resumes vendor steps when the Vendor Mediator answers.

The answers come through an SQS buffer (``loyalty.adapters.event_buffer``): a resume that Step
Functions throttles is retried with backoff until the queue's receive limit; an answer that is
not the contract goes to the buffer's dead-letter queue at once, with the reason.

``submitted`` → ``SendTaskSuccess`` with the answer event as output; ``error`` →
``SendTaskFailure`` with the answer's error name and reason. The item's status (points, voucher,
reward) is recorded first: it says what the vendor did, even when the task has already timed out:
``SUBMITTED`` (applied), ``ERROR`` (known not to be applied) or, for ``VendorOutcomeUnknown``,
``UNKNOWN`` — never ERROR for an effect that may have happened. An item already SUBMITTED stays
so, except for its reversal's answer (compensation): ``COMPENSATED`` (reversed),
``COMPENSATION_FAILED`` (known not reversed: still applied) or ``UNKNOWN``. A closed token
(``TaskTimedOut``, ``InvalidToken``, ``TaskDoesNotExist``) is logged and dropped. An answer
names the run that asked (``resources``); once an operator's re-run asked for an item again, only
that run's answers record it.
"""

from __future__ import annotations

from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from loyalty.adapters.event_buffer import EventBuffer
from loyalty.adapters.orders_table import ItemUpdate, OrdersTable
from loyalty.adapters.task_tokens import TaskTokens
from loyalty.clock import utc_now
from loyalty.contract import (
    REVERSALS,
    ErrorName,
    MetricName,
    VendorRequestType,
    VendorStatus,
)
from loyalty.events import VendorEvent
from loyalty.naming import attempt_from_resources
from loyalty.order_status import POINTS_ITEM, ItemStatus, reward_item, voucher_item
from token_handler.settings import TokenHandlerSettings

logger = Logger()
tracer = Tracer()
metrics = Metrics()
tokens = TaskTokens(client=boto3.client("stepfunctions"))
settings = TokenHandlerSettings.from_environment()
orders = OrdersTable(client=boto3.client("dynamodb"), table_name=settings.orders_table)
buffer = EventBuffer.of(settings, sqs=boto3.client("sqs"), logger=logger)


def item_keys(answer: VendorEvent) -> list[str]:
    """The order items an answer is about (a reversal's: the item it reverses)."""
    kind = answer.metadata.type
    if kind in (VendorRequestType.VOUCHER, VendorRequestType.VOUCHER_REVERSAL):
        return [voucher_item(v.voucher_code) for v in answer.data.vouchers]
    if kind in (VendorRequestType.REWARD, VendorRequestType.REWARD_REVERSAL):
        return [reward_item(r.reward_code) for r in answer.data.rewards]
    return [POINTS_ITEM]


def item_status(answer: VendorEvent) -> ItemStatus:
    """What the answer says the vendor did: applied (or, for a reversal, reversed), known not
    to be, or not known."""
    reversal = answer.metadata.type in REVERSALS
    if answer.metadata.status is VendorStatus.SUBMITTED:
        return ItemStatus.COMPENSATED if reversal else ItemStatus.SUBMITTED
    error = answer.data.error
    if error is not None and error.name == ErrorName.VENDOR_OUTCOME_UNKNOWN:
        return ItemStatus.UNKNOWN
    return ItemStatus.COMPENSATION_FAILED if reversal else ItemStatus.ERROR


def record_item_statuses(answer: VendorEvent, *, attempt: int = 1) -> None:
    status = item_status(answer)
    attributes: dict[str, Any] = {}
    if answer.data.error is not None:
        attributes = {"error": answer.data.error.name, "reason": answer.data.error.reason}
    elif answer.data.vendor_references:
        attributes = {"vendor_references": answer.data.vendor_references}
    for key in item_keys(answer):
        update = orders.mark_item(
            order_reference=answer.data.loyalty_order_reference,
            item_key=key,
            status=status,
            now=utc_now(),
            attributes=attributes,
            reversal=answer.metadata.type in REVERSALS,
            attempt=attempt,
        )
        if update is not ItemUpdate.RECORDED:
            logger.warning(
                "item status not changed", extra={"item": key, "status": status, "why": update}
            )


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """A batch of the Vendor Mediator's answers from the buffer queue."""
    return buffer.handle_batch(event, context, handle=resume, refused=(ValidationError,))


def resume(event: dict[str, Any]) -> dict[str, Any]:
    """Record what one answer says the vendor did, then resume (or fail) its waiting task."""
    answer = VendorEvent.model_validate(event["detail"])
    logger.append_keys(order_reference=answer.data.loyalty_order_reference)
    token = answer.data.loyalty_request_id
    tracer.put_annotation("order_reference", answer.data.loyalty_order_reference)
    # The run that asked, as the mediator repeats it: a late answer of an earlier run does not
    # record an item an operator's re-run asked for again.
    record_item_statuses(answer, attempt=attempt_from_resources(event.get("resources")))
    if answer.metadata.status is VendorStatus.SUBMITTED:
        closed = tokens.succeed(token, event)
    else:
        error = answer.data.error
        closed = tokens.fail(
            token,
            error=error.name if error else ErrorName.VENDOR_ERROR.value,
            cause=error.reason if error else "the vendor mediator answered error without a reason",
        )
    if closed:
        logger.warning("task token already closed; answer dropped", extra={"reason": closed})
        metrics.add_metric(name=MetricName.ANSWER_DROPPED, unit=MetricUnit.Count, value=1)
        return {"resumed": False, "reason": closed}
    metrics.add_metric(name=MetricName.TASK_RESUMED, unit=MetricUnit.Count, value=1)
    return {"resumed": True, "status": answer.metadata.status.value}

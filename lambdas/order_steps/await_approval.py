"""Waiting for a person: the approval step's function.

Unlike the other steps, it is invoked by the state machine directly
(``lambda:invoke.waitForTaskToken``, seed 002's approach), so the task token never travels on
the bus, and if this function fails the step fails at once (retried, then ``ApprovalNotOpened``)
instead of waiting out the approval's deadline with no action open. Nobody answers here: it
stores the token in the actions table (keyed by order and action; clients never see it), marks
the order AWAITING_APPROVAL and announces ``order.approval-requested`` (without the token) for
whoever reviews orders. The decision comes later, through the Order API, which resumes
(approve) or fails (reject, cancel) the waiting task with the token. An operator's re-run of an
order approved in an earlier attempt is not asked again, and an order cancelled before anybody
was asked stops here: this function then resumes the task itself, with Step Functions, so the
token is never in an event either way.
"""

from __future__ import annotations

import time
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from loyalty.adapters.event_bus import EventBusPublisher
from loyalty.adapters.orders_table import StaleStepError
from loyalty.adapters.task_tokens import TaskTokens
from loyalty.clock import utc_now
from loyalty.contract import APPROVAL_ACTION, MetricName, OrderEvent
from loyalty.domain.errors import OrderCancelled
from loyalty.events import StepRequest, order_lifecycle_event
from loyalty.order_status import ActionStatus
from order_steps.settings import ApprovalSettings, StepSettings
from order_steps.worker import actions_table_from_env, orders_table_from_env

logger = Logger()
tracer = Tracer()
metrics = Metrics()
orders = orders_table_from_env()
actions = actions_table_from_env()
settings = StepSettings.from_environment()
domain = settings.domain
timeout_seconds = ApprovalSettings.from_environment().approval_timeout_seconds
tokens = TaskTokens(client=boto3.client("stepfunctions"))
publisher = EventBusPublisher(
    client=boto3.client("events"),
    bus_name=settings.event_bus,
    source=settings.event_source,
)


def _granted_before(request: StepRequest) -> dict[str, Any] | None:
    """An operator's re-run of an order a person approved in an earlier attempt: the approval
    stands (the step finishes with it at once, and the order keeps its decision record)."""
    action = actions.get(request.order_reference, APPROVAL_ACTION) or {}
    granted = action.get("status") == ActionStatus.DECIDED and action.get("decision") == "approve"
    if not granted or action.get("execution_id") == request.execution_id:
        return None  # not granted (a decision never delivered), or in this very run (a late run)
    decision = {
        "decision": "approve",
        "comment": action.get("comment"),
        "decided_by": action.get("decided_by"),
        "decided_at": action.get("decided_at"),
        "carried_over": True,
    }
    # Straight to Step Functions, like every answer to this step: its token never goes on the bus.
    closed = tokens.succeed(request.task_token, decision)
    logger.info("approval of an earlier attempt carried over", extra={**decision, "closed": closed})
    return {"action": APPROVAL_ACTION, "carried_over": True}


@logger.inject_lambda_context(correlation_id_path="order_reference")
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # Invoked by the state machine (lambda:invoke.waitForTaskToken) with the step request itself.
    request = StepRequest.model_validate(event)
    # The loyalty instructions always travel inline (the order may be a claim check).
    loyalty = (request.model_extra or {}).get("loyalty", {})
    reasons = [str(r) for r in loyalty.get("approval_reasons", [])]
    now = utc_now()
    expires_at = int(time.time()) + timeout_seconds
    opened = actions.open(
        order_reference=request.order_reference,
        action=APPROVAL_ACTION,
        task_token=request.task_token,
        execution_id=request.execution_id,
        reasons=reasons,
        requested_at=now,
        expires_at=expires_at,
    )
    if not opened and (granted := _granted_before(request)) is not None:
        return granted
    try:
        if not opened:
            raise StaleStepError(
                request.order_reference,
                "approval request",
                {"status": "its approval already decided or expired", "stage": "approval"},
            )
        orders.await_approval(
            order_reference=request.order_reference,
            execution_id=request.execution_id,
            reasons=reasons,
            now=now,
        )
        # A person may have approved between the two writes, while the order did not await
        # approval yet (the API's mark found nothing to move): move it out of the queue here.
        action = actions.get(request.order_reference, APPROVAL_ACTION) or {}
        if action.get("decision") == "approve":
            orders.approved(
                order_reference=request.order_reference,
                execution_id=request.execution_id,
                now=utc_now(),
            )
    except OrderCancelled as err:
        # Cancelled before a person was asked: nobody will be; the order stops here.
        actions.expire(order_reference=request.order_reference, action=APPROVAL_ACTION)
        tokens.fail(request.task_token, error=err.error_name, cause=str(err))
        return {"action": APPROVAL_ACTION, "cancelled": str(err)}
    except StaleStepError as err:
        # A late run (Lambda's retry) after the approval was decided or the order moved on.
        logger.warning("stale step ignored", extra={"reason": str(err)})
        metrics.add_metric(name=MetricName.STALE_STEP_IGNORED, unit=MetricUnit.Count, value=1)
        return {"action": APPROVAL_ACTION, "stale": str(err)}
    publisher.publish(
        [
            order_lifecycle_event(
                OrderEvent.APPROVAL_REQUESTED,
                domain=domain,
                order_reference=request.order_reference,
                data={
                    "action": APPROVAL_ACTION,
                    "reasons": reasons,
                    "requested_at": now,
                    "expires_at": expires_at,
                    "loyalty_reference": loyalty.get("loyalty_reference"),
                    "merchant_reference": loyalty.get("merchant_reference"),
                    "order_type": loyalty.get("order_type"),
                },
            )
        ]
    )
    metrics.add_metric(name=MetricName.APPROVAL_REQUESTED, unit=MetricUnit.Count, value=1)
    return {"action": APPROVAL_ACTION, "expires_at": expires_at}

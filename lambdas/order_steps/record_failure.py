"""Failure recording: status FAILED with the error's name and cause, and ``order.failed``.

Runs from the state machine's catch-all, so it must not fail on a half-known order: the order may
never have been stored (it failed recognition or validation). ``order.failed`` lists the item
statuses so that whoever compensates knows exactly which vendor effects were applied.
"""

from loyalty.clock import utc_now
from loyalty.contract import Env, MetricName, OrderEvent, OrderStep
from loyalty.events import StepFailure, StepRequest, order_lifecycle_event
from loyalty.settings import require_env
from order_steps.worker import StepResult, orders_table_from_env, step_handler

orders = orders_table_from_env()
domain = require_env(Env.LOYALTY_DOMAIN)


def record_failure(request: StepRequest) -> StepResult:
    failure = request.error or StepFailure()
    now = utc_now()
    owned = orders.fail(
        order_reference=request.order_reference,
        execution_id=request.execution_id,
        error=failure.error,
        cause=failure.cause or "",
        now=now,
    )
    if not owned:
        # Another execution owns this order (a duplicate run): its status is not ours to change.
        return StepResult(result={"recorded": False})
    stored = orders.get(request.order_reference) or {}
    failed = order_lifecycle_event(
        OrderEvent.FAILED,
        domain=domain,
        order_reference=request.order_reference,
        data={
            "error": failure.error,
            "cause": failure.cause,
            "loyalty_reference": request.order.get("loyalty_reference"),
            "items": stored.get("items", {}),
            "failed_at": now,
        },
    )
    return StepResult(result={"recorded": True}, events=[failed], counts=(MetricName.ORDER_FAILED,))


handler = step_handler(OrderStep.RECORD_FAILURE, record_failure)

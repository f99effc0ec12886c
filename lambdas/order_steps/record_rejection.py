"""Rejection: a person rejected the order, or nobody decided in time. Status REJECTED with the
reason, and ``order.rejected`` for whoever tells the customer. No loyalty effect was applied:
approval comes before any vendor step."""

from loyalty.clock import utc_now
from loyalty.contract import APPROVAL_ACTION, ErrorName, MetricName, OrderEvent, OrderStep
from loyalty.events import StepFailure, StepRequest, order_lifecycle_event
from order_steps.settings import StepSettings
from order_steps.worker import (
    StepResult,
    actions_table_from_env,
    orders_table_from_env,
    step_handler,
)

orders = orders_table_from_env()
actions = actions_table_from_env()
domain = StepSettings.from_environment().domain


def rejection_reason(failure: StepFailure) -> str:
    if failure.error == ErrorName.ORDER_REJECTED:
        return failure.cause or "rejected"
    return "nobody approved the order before the approval step timed out"


def record_rejection(request: StepRequest) -> StepResult:
    failure = request.error or StepFailure()
    reason = rejection_reason(failure)
    now = utc_now()
    if failure.error != ErrorName.ORDER_REJECTED:
        actions.expire(order_reference=request.order_reference, action=APPROVAL_ACTION)
    orders.reject(
        order_reference=request.order_reference,
        execution_id=request.execution_id,
        reason=reason,
        now=now,
    )
    rejected = order_lifecycle_event(
        OrderEvent.REJECTED,
        domain=domain,
        order_reference=request.order_reference,
        data={
            "reason": reason,
            "timed_out": failure.error != ErrorName.ORDER_REJECTED,
            "loyalty_reference": request.order.get("loyalty_reference"),
            "merchant_reference": request.order.get("merchant_reference"),
            "order_type": request.order.get("order_type"),
            "rejected_at": now,
        },
    )
    return StepResult(
        result={"rejected": True, "reason": reason},
        events=[rejected],
        counts=(MetricName.ORDER_REJECTED,),
    )


handler = step_handler(OrderStep.RECORD_REJECTION, record_rejection)

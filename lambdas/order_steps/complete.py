"""Completion: status COMPLETED and ``order.completed`` for whoever notifies the customer."""

from loyalty.clock import utc_now
from loyalty.contract import Env, MetricName, OrderEvent, OrderStep
from loyalty.events import StepRequest, order_lifecycle_event
from loyalty.settings import require_env
from order_steps.worker import StepResult, orders_table_from_env, step_handler

orders = orders_table_from_env()
domain = require_env(Env.LOYALTY_DOMAIN)


def complete(request: StepRequest) -> StepResult:
    now = utc_now()
    orders.complete(
        order_reference=request.order_reference, execution_id=request.execution_id, now=now
    )
    loyalty = request.model_extra.get("loyalty", {}) if request.model_extra else {}
    completed = order_lifecycle_event(
        OrderEvent.COMPLETED,
        domain=domain,
        order_reference=request.order_reference,
        data={
            "order_type": loyalty.get("order_type"),
            "loyalty_reference": loyalty.get("loyalty_reference"),
            "merchant_reference": loyalty.get("merchant_reference"),
            "points": loyalty.get("points"),
            "vouchers": loyalty.get("vouchers", []),
            "rewards": loyalty.get("rewards", []),
            "completed_at": now,
        },
    )
    return StepResult(
        result={"status": "COMPLETED"}, events=[completed], counts=(MetricName.ORDER_COMPLETED,)
    )


handler = step_handler(OrderStep.COMPLETE, complete)

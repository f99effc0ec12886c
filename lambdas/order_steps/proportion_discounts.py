"""Discount proportioning: the order-level discount shared across lines, to the cent."""

from loyalty.clock import utc_now
from loyalty.contract import OrderStep
from loyalty.domain.discounts import proportion_discount
from loyalty.domain.orders import Order
from loyalty.events import StepRequest
from loyalty.order_status import OrderStage
from order_steps.worker import StepResult, orders_table_from_env, step_handler

orders = orders_table_from_env()


def proportion(request: StepRequest) -> StepResult:
    order = proportion_discount(Order.model_validate(request.order))
    orders.record_stage(
        order_reference=order.order_reference,
        execution_id=request.execution_id,
        stage=OrderStage.DISCOUNTS_PROPORTIONED,
        now=utc_now(),
        attributes={"line_discounts": [str(line.discount) for line in order.lines]},
    )
    return StepResult(result=order.model_dump(mode="json"))


handler = step_handler(OrderStep.PROPORTION_DISCOUNTS, proportion)

"""Discount proportioning: the order-level discount shared across lines, to the cent."""

from loyalty.clock import utc_now
from loyalty.contract import OrderStep
from loyalty.domain.discounts import proportion_discount
from loyalty.domain.orders import Order
from loyalty.events import StepRequest
from loyalty.order_status import OrderStage
from order_steps.worker import StepResult, orders_table_from_env, step_handler

orders = orders_table_from_env()
SHOWN_LINE_DISCOUNTS = 500
"""Up to this many lines, each line's share is kept on the order item; a larger order's shares
are in its proportioned copy in the orders bucket (DynamoDB items stop at 400 KB)."""


def proportion(request: StepRequest) -> StepResult:
    order = proportion_discount(Order.model_validate(request.order))
    shares = [str(line.discount) for line in order.lines]
    orders.record_stage(
        order_reference=order.order_reference,
        execution_id=request.execution_id,
        stage=OrderStage.DISCOUNTS_PROPORTIONED,
        now=utc_now(),
        attributes={"line_discounts": shares} if len(shares) <= SHOWN_LINE_DISCOUNTS else {},
    )
    return StepResult(result=order.model_dump(mode="json"))


handler = step_handler(OrderStep.PROPORTION_DISCOUNTS, proportion)

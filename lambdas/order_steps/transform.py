"""Transformation: the order turned into what the vendor is asked to do (points, vouchers,
rewards)."""

from loyalty.clock import utc_now
from loyalty.contract import Env, OrderStep
from loyalty.domain.orders import Order
from loyalty.domain.transform import to_loyalty_instructions
from loyalty.events import StepRequest
from loyalty.order_status import OrderStage
from loyalty.settings import decimal_env
from order_steps.worker import StepResult, orders_table_from_env, step_handler

orders = orders_table_from_env()
points_rate = decimal_env(Env.POINTS_PER_CURRENCY_UNIT, "1")


def transform(request: StepRequest) -> StepResult:
    instructions = to_loyalty_instructions(Order.model_validate(request.order), points_rate)
    orders.record_stage(
        order_reference=instructions.order_reference,
        execution_id=request.execution_id,
        stage=OrderStage.TRANSFORMED,
        now=utc_now(),
        attributes={"points": instructions.points, "net_amount": str(instructions.net_amount)},
    )
    return StepResult(result=instructions.model_dump(mode="json"))


handler = step_handler(OrderStep.TRANSFORM, transform)

"""Transformation: the order turned into what the vendor is asked to do (points, vouchers,
rewards), and whether a person must approve it first."""

from loyalty.clock import utc_now
from loyalty.contract import OrderStep
from loyalty.domain.approval import ApprovalPolicy, approval_reasons
from loyalty.domain.orders import Order
from loyalty.domain.transform import to_loyalty_instructions, without_applied
from loyalty.events import StepRequest
from loyalty.order_status import OrderStage
from order_steps.settings import TransformSettings
from order_steps.worker import StepResult, orders_table_from_env, step_handler

orders = orders_table_from_env()
settings = TransformSettings.from_environment()
points_rate = settings.points_per_currency_unit
approval = ApprovalPolicy(return_threshold=settings.approval_return_threshold)


def transform(request: StepRequest) -> StepResult:
    order = Order.model_validate(request.order)
    instructions = to_loyalty_instructions(order, points_rate)
    reasons = approval_reasons(order, approval)
    attempt = orders.record_stage(
        order_reference=instructions.order_reference,
        execution_id=request.execution_id,
        stage=OrderStage.TRANSFORMED,
        now=utc_now(),
        attributes={"points": instructions.points, "net_amount": str(instructions.net_amount)},
    )
    if attempt > 1:
        # An operator's re-run: never ask the vendor again for what it applied.
        instructions = without_applied(
            instructions, orders.applied_items(instructions.order_reference)
        )
    # The state machine waits for a person when there are reasons to.
    return StepResult(result={**instructions.model_dump(mode="json"), "approval_reasons": reasons})


handler = step_handler(OrderStep.TRANSFORM, transform)

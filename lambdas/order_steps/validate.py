"""Order validation: the recognised order against the order model, every problem named."""

from loyalty.contract import OrderStep
from loyalty.domain.validation import validate_order
from loyalty.events import StepRequest
from order_steps.worker import StepResult, step_handler


def validate(request: StepRequest) -> StepResult:
    return StepResult(result=validate_order(request.order).model_dump(mode="json"))


handler = step_handler(OrderStep.VALIDATE, validate)

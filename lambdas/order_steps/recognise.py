"""Order recognition: is it a sale or a return?"""

from loyalty.contract import OrderStep
from loyalty.domain.recognition import recognise_order
from loyalty.events import StepRequest
from order_steps.worker import StepResult, step_handler


def recognise(request: StepRequest) -> StepResult:
    return StepResult(result=recognise_order(request.order))


handler = step_handler(OrderStep.RECOGNISE, recognise)

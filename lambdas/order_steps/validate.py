"""Order validation: the recognised order against the order model, every problem named.

The order's own ``order_reference`` must be the one it was received under (the execution's, the
one every later step, the vendor's idempotency keys and the record use): an order sent by claim
check carries it twice, and two different values would split the order in two."""

from loyalty.contract import ORDER_REFERENCE_FIELD, OrderStep
from loyalty.domain.errors import FieldProblem, OrderValidationError
from loyalty.domain.validation import validate_order
from loyalty.events import StepRequest
from order_steps.worker import StepResult, step_handler


def validate(request: StepRequest) -> StepResult:
    order = validate_order(request.order)
    if order.order_reference != request.order_reference:
        raise OrderValidationError(
            [
                FieldProblem(
                    ORDER_REFERENCE_FIELD,
                    f"{order.order_reference!r} differs from the reference the order was "
                    f"received under ({request.order_reference!r})",
                )
            ]
        )
    return StepResult(result=order.model_dump(mode="json"))


handler = step_handler(OrderStep.VALIDATE, validate)

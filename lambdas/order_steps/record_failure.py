"""Failure recording: the order ends FAILED (or NEEDS_RECONCILIATION, when a vendor effect's
outcome is unknown) with the error's name and cause, and ``order.failed`` (or
``order.needs-reconciliation``) goes out.

Runs from the state machine's catch-all, so it must not fail on a half-known order: the order may
never have been stored (it failed recognition or validation). The event lists the item statuses,
so that whoever compensates knows exactly which vendor effects were applied: the vendor branches
have all ended by now, so those statuses are final. Its result is what the execution fails with
(a named error, never Step Functions' own ``States.*``).
"""

from loyalty.clock import utc_now
from loyalty.contract import Env, MetricName, OrderEvent, OrderStep
from loyalty.domain.settlement import final_status, named_error
from loyalty.events import StepFailure, StepRequest, order_lifecycle_event
from loyalty.order_status import OrderStatus
from loyalty.settings import require_env
from order_steps.worker import StepResult, orders_table_from_env, step_handler

orders = orders_table_from_env()
domain = require_env(Env.LOYALTY_DOMAIN)


def record_failure(request: StepRequest) -> StepResult:
    failure = request.error or StepFailure()
    error, cause = named_error(failure.error, failure.cause)
    now = utc_now()
    before = orders.get(request.order_reference) or {}
    status = final_status(error, before.get("items", {}))
    owned = orders.fail(
        order_reference=request.order_reference,
        execution_id=request.execution_id,
        error=error,
        cause=cause,
        now=now,
        status=status,
    )
    outcome = {"recorded": owned, "error": error, "cause": cause}
    if not owned:
        # Another execution owns this order (a duplicate run): its status is not ours to change.
        return StepResult(result=outcome)
    stored = orders.get(request.order_reference) or {}
    parked = status is OrderStatus.NEEDS_RECONCILIATION
    ended = order_lifecycle_event(
        OrderEvent.NEEDS_RECONCILIATION if parked else OrderEvent.FAILED,
        domain=domain,
        order_reference=request.order_reference,
        data={
            "error": error,
            "cause": cause,
            "loyalty_reference": request.order.get("loyalty_reference"),
            "items": stored.get("items", {}),
            "failed_at": now,
        },
    )
    return StepResult(
        result=outcome,
        events=[ended],
        counts=(MetricName.ORDER_NEEDS_RECONCILIATION if parked else MetricName.ORDER_FAILED,),
    )


handler = step_handler(OrderStep.RECORD_FAILURE, record_failure)

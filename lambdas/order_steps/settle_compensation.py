"""The end of a compensation: every reversal of a failed order's applied effects has been answered
(or has given up), and the items' records say which were made.

* every effect reversed → the order stays ``FAILED`` (with its own error) and ``order.compensated``
  goes out: its net effect at the vendor is zero;
* a reversal refused, or not made before the deadline → ``COMPENSATION_FAILED`` (error
  ``CompensationFailed``, the ``CompensationFailed`` metric an alarm watches, and
  ``order.compensation-failed``): the effect is still applied; an operator's retry asks again;
* a reversal whose outcome is not known (no answer, or ``VendorOutcomeUnknown``) →
  ``NEEDS_RECONCILIATION``, like any unknown outcome.

The step's result is what the execution ends with.
"""

from typing import Any

from loyalty.clock import utc_now
from loyalty.contract import MetricName, OrderEvent, OrderStep
from loyalty.domain.compensation import NO_REVERSAL_ANSWER, compensation_outcome
from loyalty.domain.settlement import item_statuses
from loyalty.events import StepFailure, StepRequest, order_lifecycle_event
from loyalty.order_status import ItemStatus, OrderStatus
from order_steps.settings import StepSettings
from order_steps.worker import StepResult, orders_table_from_env, step_handler

orders = orders_table_from_env()
domain = StepSettings.from_environment().domain

_ENDINGS = {
    OrderStatus.FAILED: (OrderEvent.COMPENSATED, MetricName.ORDER_COMPENSATED),
    OrderStatus.CANCELLED: (OrderEvent.COMPENSATED, MetricName.ORDER_COMPENSATED),
    OrderStatus.COMPENSATION_FAILED: (
        OrderEvent.COMPENSATION_FAILED,
        MetricName.COMPENSATION_FAILED,
    ),
    OrderStatus.NEEDS_RECONCILIATION: (
        OrderEvent.NEEDS_RECONCILIATION,
        MetricName.ORDER_NEEDS_RECONCILIATION,
    ),
}


def settle(request: StepRequest) -> StepResult:
    failure = request.error or StepFailure()
    now = utc_now()
    stored = orders.get(request.order_reference) or {}
    if stored.get("execution_id") != request.execution_id:
        # A late run for an execution that no longer owns the order: its items are another
        # run's now, and not this one's to settle.
        return StepResult(result={"status": None, "error": failure.error, "cause": "not owner"})
    items = stored.get("items", {})
    ended = compensation_outcome(items, error=failure.error, cause=failure.cause or "")
    for key in ended.unanswered:
        orders.mark_item(
            order_reference=request.order_reference,
            item_key=key,
            status=ItemStatus.UNKNOWN,
            now=now,
            attributes={"error": ended.error, "reason": NO_REVERSAL_ANSWER},
            reversal=True,
        )
    orders.settle_compensation(
        order_reference=request.order_reference,
        execution_id=request.execution_id,
        status=ended.status,
        error=ended.error,
        cause=ended.cause,
        failure=(failure.error, failure.cause or ""),
        now=now,
    )
    event, metric = _ENDINGS[ended.status]
    settled = (orders.get(request.order_reference) or {}).get("items", {})
    data: dict[str, Any] = {
        "error": ended.error,
        "cause": ended.cause,
        "loyalty_reference": request.order.get("loyalty_reference"),
        **item_statuses(settled),
        "compensation_ended_at": now,
    }
    return StepResult(
        result={"status": ended.status.value, "error": ended.error, "cause": ended.cause},
        events=[
            order_lifecycle_event(
                event, domain=domain, order_reference=request.order_reference, data=data
            )
        ],
        counts=(metric,),
    )


handler = step_handler(OrderStep.SETTLE_COMPENSATION, settle)

"""Completion: decided from what the vendor did with each item (the records the Token Handler
wrote), then status COMPLETED and ``order.completed`` for whoever notifies the customer.

Every vendor request of the order has ended before this step runs (the vendor branches never fail
fast). If any item was not applied, the step fails with that item's error instead; an item still
PENDING got no answer, so it may have been applied or not: it is recorded UNKNOWN and the step
fails with ``VendorOutcomeUnknown`` (the order will be parked for reconciliation, never reported
as "not applied").
"""

from loyalty.adapters.orders_table import StaleStepError
from loyalty.clock import utc_now
from loyalty.contract import MetricName, OrderEvent, OrderStep
from loyalty.domain.errors import DomainError
from loyalty.domain.settlement import settle
from loyalty.events import StepRequest, order_lifecycle_event
from order_steps.settings import StepSettings
from order_steps.worker import (
    StepResult,
    orders_table_from_env,
    record_unanswered_unknown,
    step_handler,
)

orders = orders_table_from_env()
domain = StepSettings.from_environment().domain


class EffectsNotApplied(DomainError):  # noqa: N818 - carries the vendor's error name
    def __init__(self, error_name: str, cause: str) -> None:
        super().__init__(cause)
        self.error_name = error_name


def complete(request: StepRequest) -> StepResult:
    now = utc_now()
    stored = orders.get(request.order_reference) or {}
    if stored.get("execution_id") != request.execution_id:
        # A late run for a run that no longer owns the order: another run's items, not ours.
        raise StaleStepError(request.order_reference, "completion", stored)
    settlement = settle(stored.get("items", {}))
    if not settlement.completed:
        record_unanswered_unknown(orders, request.order_reference, list(settlement.unanswered), now)
        raise EffectsNotApplied(str(settlement.error), settlement.cause)
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

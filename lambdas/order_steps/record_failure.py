"""Failure recording: the order ends FAILED (or NEEDS_RECONCILIATION, when a vendor effect's
outcome is unknown) with the error's name and cause, and ``order.failed`` (or
``order.needs-reconciliation``) goes out.

Runs from the state machine's catch-all, so it must not fail on a half-known order: the order may
never have been stored (it failed recognition or validation). When the failure came once the
vendor requests were sent (the state machine marks it: ``VendorPhase``), an item still PENDING got
no answer, so it may have been applied: it is recorded UNKNOWN. The event lists every item's
status (and error), so that whoever compensates knows exactly which vendor effects were applied;
an order of thousands of items lists the counts instead (an event stays far below EventBridge's
256 KB). The step's result is what the execution fails with (a named error, never Step
Functions' own ``States.*``). A retried run of this step keeps the status the first one wrote.

With ``loyalty:onPartialFailure`` = ``compensate`` (the default), an order that FAILED with
effects applied is ``COMPENSATING`` instead, and the step's result carries the reversals for the
state machine to make (``compensation``); ``order.failed`` still goes out now.
"""

from typing import Any

from loyalty.clock import utc_now
from loyalty.contract import (
    ErrorName,
    MetricName,
    OrderEvent,
    OrderStep,
    PartialFailurePolicy,
)
from loyalty.domain.compensation import plan_compensation
from loyalty.domain.settlement import final_status, item_statuses, named_error, settle
from loyalty.events import StepFailure, StepRequest, order_lifecycle_event
from loyalty.order_status import OrderStatus
from order_steps.settings import FailureSettings, StepSettings
from order_steps.worker import (
    StepResult,
    orders_table_from_env,
    record_unanswered_unknown,
    step_handler,
)

orders = orders_table_from_env()
domain = StepSettings.from_environment().domain
FAILED_STATUSES = (
    OrderStatus.FAILED,
    OrderStatus.NEEDS_RECONCILIATION,
    OrderStatus.COMPENSATING,
    OrderStatus.CANCELLED,
)
policy = FailureSettings.from_environment().on_partial_failure


def record_failure(request: StepRequest) -> StepResult:
    failure = request.error or StepFailure()
    error, cause = named_error(failure.error, failure.cause)
    now = utc_now()
    before = orders.get(request.order_reference) or {}
    if before.get("execution_id") not in (None, request.execution_id):
        # A late run for an execution that no longer owns the order (a duplicate, or the run an
        # operator's re-run replaced): it must not touch the items of the run that does.
        return StepResult(result={"recorded": False, "error": error, "cause": cause})
    if (cancel := before.get("cancel_requested")) and error != ErrorName.VENDOR_OUTCOME_UNKNOWN:
        # Somebody cancelled it, and it failed (or stopped) before the cancellation was noticed:
        # it ends as cancelled, what it applied given back, whatever the policy.
        error = ErrorName.ORDER_CANCELLED.value
        cause = f"cancelled by {cancel.get('by')} at {cancel.get('at')} ({cause})"
    if failure.vendor_phase:
        unanswered = settle(before.get("items", {})).unanswered
        record_unanswered_unknown(orders, request.order_reference, list(unanswered), now)
        before = orders.get(request.order_reference) or {}
    status = final_status(error, before.get("items", {}))
    compensation = None
    # A cancellation always gives back what was applied; a failure does when the policy says so.
    if status is OrderStatus.CANCELLED or (
        status is OrderStatus.FAILED and policy is PartialFailurePolicy.COMPENSATE
    ):
        compensation = plan_compensation(
            order_type=str(before.get("order_type") or request.order.get("order_type")),
            points=int(before.get("points") or 0),
            items=before.get("items", {}),
        )
        if compensation is not None:
            status = OrderStatus.COMPENSATING
    if before.get("execution_id") == request.execution_id and before.get("status") in (
        FAILED_STATUSES
    ):
        status = OrderStatus(before["status"])  # a retry finishes the first run's job
    owned = orders.fail(
        order_reference=request.order_reference,
        execution_id=request.execution_id,
        error=error,
        cause=cause,
        now=now,
        status=status,
    )
    outcome: dict[str, Any] = {
        "recorded": owned,
        "status": status.value,
        "error": error,
        "cause": cause,
    }
    if owned and status is OrderStatus.COMPENSATING and compensation is not None:
        # The state machine reverses these next (``loyalty:onPartialFailure`` = compensate).
        outcome["compensation"] = {
            **compensation,
            "loyalty_reference": before.get("loyalty_reference"),
            "merchant_reference": before.get("merchant_reference"),
        }
    if not owned:
        # Another execution owns this order (a duplicate run): its status is not ours to change.
        return StepResult(result=outcome)
    stored = orders.get(request.order_reference) or {}
    event, metric = _announced(status, error)
    ended = order_lifecycle_event(
        event,
        domain=domain,
        order_reference=request.order_reference,
        data={
            "error": error,
            "cause": cause,
            "loyalty_reference": request.order.get("loyalty_reference"),
            **item_statuses(stored.get("items", {})),
            "failed_at": now,
        },
    )
    return StepResult(result=outcome, events=[ended], counts=(metric,))


def _announced(status: OrderStatus, error: str) -> tuple[OrderEvent, MetricName]:
    """The event (and metric) that tells the world how the order ended, or (being compensated)
    how it is about to."""
    if status is OrderStatus.NEEDS_RECONCILIATION:
        return OrderEvent.NEEDS_RECONCILIATION, MetricName.ORDER_NEEDS_RECONCILIATION
    if error == ErrorName.ORDER_CANCELLED:
        return OrderEvent.CANCELLED, MetricName.ORDER_CANCELLED
    return OrderEvent.FAILED, MetricName.ORDER_FAILED


handler = step_handler(OrderStep.RECORD_FAILURE, record_failure)

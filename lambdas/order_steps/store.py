"""Order storage: the first write of the order, which makes this execution its owner.

Idempotent: a retried step of the same execution rewrites the same item; a second execution for
the same order reference fails with ``DuplicateOrder`` before any vendor step runs. An operator's
re-run (``POST /orders/{reference}/actions/retry``) finds the order already given to its
execution: it keeps what the vendor applied and asks again for the rest.
"""

from typing import Any

from loyalty.adapters.orders_table import StaleStepError
from loyalty.clock import utc_now
from loyalty.contract import OrderStep
from loyalty.domain.orders import Order
from loyalty.events import StepRequest
from loyalty.order_status import POINTS_ITEM, ItemStatus, reward_item, voucher_item
from order_steps.worker import (
    StepResult,
    claim_check_from_env,
    claim_key,
    orders_table_from_env,
    step_handler,
)

orders = orders_table_from_env()
claims = claim_check_from_env()


def pending_items(order: Order) -> dict[str, dict[str, Any]]:
    """One status entry per vendor effect the order will ask for."""
    pending = ItemStatus.PENDING.value
    items: dict[str, dict[str, Any]] = {POINTS_ITEM: {"kind": order.order_type, "status": pending}}
    for voucher in order.vouchers:
        items[voucher_item(voucher.voucher_code)] = {"kind": "voucher", "status": pending}
    for reward in order.rewards:
        items[reward_item(reward.reward_code)] = {"kind": "reward", "status": pending}
    return items


def store(request: StepRequest) -> StepResult:
    order = Order.model_validate(request.order)
    now = utc_now()
    try:
        _create(request, order, now)
    except StaleStepError:
        # A re-run's execution owns the record already (the Order API gave it the order): its
        # items are asked for again, except what the vendor applied. If this is not a re-run
        # either, the first refusal stands.
        try:
            orders.resume(
                order_reference=order.order_reference,
                execution_id=request.execution_id,
                items=pending_items(order),
                now=now,
            )
        except StaleStepError:
            pass
        else:
            return StepResult(result={"stored": True, "resumed": True})
        raise
    return StepResult(result={"stored": True})


def _create(request: StepRequest, order: Order, now: str) -> None:
    orders.create(
        order_reference=order.order_reference,
        execution_id=request.execution_id,
        attributes={
            "order_type": order.order_type,
            "loyalty_reference": order.loyalty_reference,
            "merchant_reference": order.merchant_reference,
            "currency": order.currency,
            # A large order is kept in S3 (DynamoDB items stop at 400 KB): the item points to it.
            "order": claims.inline_or_store(
                claim_key(request, "stored-order"), order.model_dump(mode="json")
            ),
        },
        items=pending_items(order),
        now=now,
    )


handler = step_handler(OrderStep.STORE, store)

"""Turn a validated order into what the loyalty vendor needs to apply it."""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field

from loyalty.domain.discounts import proportion_discount
from loyalty.domain.orders import Order, OrderType, RewardRef, VoucherRef
from loyalty.domain.points import points_for_order
from loyalty.order_status import POINTS_ITEM, reward_item, voucher_item


class LoyaltyInstructions(BaseModel):
    """Points to add (sale) or deduct (return), plus vouchers and rewards to redeem."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    order_reference: str
    order_type: OrderType
    loyalty_reference: str
    merchant_reference: str
    currency: str
    net_amount: Decimal = Field(ge=0)
    points: int = Field(ge=0)
    vouchers: list[VoucherRef]
    rewards: list[RewardRef]


def to_loyalty_instructions(order: Order, points_rate: Decimal) -> LoyaltyInstructions:
    """Net amount and points of `order`, with its discount proportioned over its lines.

    Proportioning here is idempotent, so an already proportioned order gives the same
    result, and an order that skipped that step still earns points on net spend.
    """
    order = proportion_discount(order)
    return LoyaltyInstructions(
        order_reference=order.order_reference,
        order_type=order.order_type,
        loyalty_reference=order.loyalty_reference,
        merchant_reference=order.merchant_reference,
        currency=order.currency,
        net_amount=sum((line.net for line in order.lines), Decimal("0.00")),
        points=points_for_order(order, points_rate),
        vouchers=list(order.vouchers),
        rewards=list(order.rewards),
    )


def without_applied(instructions: LoyaltyInstructions, applied: set[str]) -> LoyaltyInstructions:
    """What a re-run still asks for: none of the items the vendor already applied (by item key:
    ``points``, ``voucher#<code>``, ``reward#<code>``). Applied points become 0 points, which the
    mediator answers without a call."""
    return instructions.model_copy(
        update={
            "points": 0 if POINTS_ITEM in applied else instructions.points,
            "vouchers": [
                v for v in instructions.vouchers if voucher_item(v.voucher_code) not in applied
            ],
            "rewards": [
                r for r in instructions.rewards if reward_item(r.reward_code) not in applied
            ],
        }
    )

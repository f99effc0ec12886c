"""Which orders wait for a person before any loyalty effect is applied.

Two rules, each giving a reason a reviewer reads:

* a **return** whose net amount is above the approval threshold (points deducted from a member
  are hard to give back, and large returns are where refund fraud happens);
* an order whose discount is more than half of its gross amount (valid, but unusual enough that
  someone should look before points are earned on it).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from loyalty.domain.orders import Order

LARGE_DISCOUNT_RATIO = Decimal("0.5")


@dataclass(frozen=True)
class ApprovalPolicy:
    return_threshold: Decimal
    """Returns with a net amount above this (in the order's currency) need approval."""
    discount_ratio: Decimal = LARGE_DISCOUNT_RATIO


def approval_reasons(order: Order, policy: ApprovalPolicy) -> list[str]:
    """Why ``order`` needs a person's approval; empty when it does not."""
    reasons = []
    net = sum((line.net for line in order.lines), Decimal("0.00"))
    if order.order_type == "return" and net > policy.return_threshold:
        reasons.append(
            f"return of {net} {order.currency} is above the approval threshold of "
            f"{policy.return_threshold} {order.currency}"
        )
    if order.gross_total > 0 and order.discount > order.gross_total * policy.discount_ratio:
        reasons.append(
            f"discount of {order.discount} {order.currency} is more than "
            f"{policy.discount_ratio:.0%} of the order's {order.gross_total} {order.currency}"
        )
    return reasons

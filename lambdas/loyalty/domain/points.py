"""Loyalty points earned by an order.

Rounding rule: points are computed per line on the line's net amount (gross minus its
proportioned share of the order discount) and rounded DOWN per line. Rounding per line,
not per order, is what lets a return of a single line deduct exactly the points that
line earned, however the original order was later split up.
"""

from __future__ import annotations

from decimal import ROUND_FLOOR, Context, Decimal

from loyalty.domain.orders import Order

# Wide enough that net * rate is exact, whatever the caller's Decimal context says.
_EXACT_FLOOR = Context(prec=60, rounding=ROUND_FLOOR)


def points_for_amount(net: Decimal, rate: Decimal) -> int:
    """floor(net * rate), never below 0. `rate` is points per currency unit, e.g. 2.5.

    Raises `ValueError` for a negative or non-finite rate: that is misconfiguration,
    and silently awarding zero points would hide it.
    """
    if not rate.is_finite() or rate < 0:
        raise ValueError(f"points rate must be a non-negative number, got {rate}")
    points = int(_EXACT_FLOOR.to_integral_value(_EXACT_FLOOR.multiply(net, rate)))
    return max(points, 0)


def points_for_order(order: Order, rate: Decimal) -> int:
    """Sum of each line's points on its net amount, each rounded down separately."""
    return sum(points_for_amount(line.net, rate) for line in order.lines)

"""Spread an order-level discount over the order's lines.

Why proportion at all: points are earned on net spend, and a later return of one line
must give back only that line's share of the order discount - no more, no less. Storing
each line's share up front makes both exact, and a full return of every line gives back
exactly the whole discount.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from fractions import Fraction

from loyalty.domain.orders import Order

MONEY_QUANTUM = Decimal("0.01")


def allocate(
    total: Decimal, weights: Sequence[Decimal], quantum: Decimal = MONEY_QUANTUM
) -> list[Decimal]:
    """Split `total` over `weights` proportionally, in whole units of `quantum`.

    Largest-remainder (Hamilton) method: every share first gets the floor of its exact
    proportional value `total * w / sum(weights)` in quantum units; the units left over
    go one each to the largest fractional remainders, ties to the earlier index. The
    arithmetic is exact (rational), so the result does not depend on Decimal context.

    Guarantees:
    - `sum(shares) == total` exactly;
    - every share is >= 0 and a multiple of `quantum`;
    - every share differs from its exact proportional value by less than one quantum;
    - a zero weight gets a zero share;
    - if `total <= sum(weights)` and the weights are multiples of `quantum`, no share
      exceeds its weight (a line's discount never exceeds its gross).

    If `sum(weights) == 0` the total must be 0 and all shares are 0 (so empty weights
    with a zero total give `[]`).

    Raises `ValueError` for a non-positive quantum, a negative or non-finite total or
    weight, a total that is not a multiple of `quantum`, or a non-zero total with
    nothing to spread it over.
    """
    _check_inputs(total, weights, quantum)
    units = int(Fraction(total) / Fraction(quantum))
    weight_sum = sum((Fraction(w) for w in weights), Fraction(0))
    if weight_sum == 0:
        if units:
            raise ValueError(f"cannot allocate {total} over weights that sum to zero")
        return [Decimal(0) * quantum for _ in weights]

    exact = [units * Fraction(w) / weight_sum for w in weights]
    floors = [int(share) for share in exact]  # int() floors: every share is >= 0
    leftover = units - sum(floors)
    by_largest_remainder = sorted(range(len(exact)), key=lambda i: -(exact[i] - floors[i]))
    for index in by_largest_remainder[:leftover]:
        floors[index] += 1
    return [share * quantum for share in floors]


def _check_inputs(total: Decimal, weights: Sequence[Decimal], quantum: Decimal) -> None:
    if not quantum.is_finite() or quantum <= 0:
        raise ValueError(f"quantum must be positive, got {quantum}")
    if not total.is_finite() or total < 0:
        raise ValueError(f"total must be a non-negative amount, got {total}")
    if Fraction(total) % Fraction(quantum) != 0:
        raise ValueError(f"total {total} is not a multiple of the quantum {quantum}")
    for weight in weights:
        if not weight.is_finite() or weight < 0:
            raise ValueError(f"weights must be non-negative, got {weight}")


def proportion_discount(order: Order) -> Order:
    """A copy of `order` whose lines carry their share of `order.discount`, by line gross.

    Deterministic and idempotent: proportioning an already proportioned order changes
    nothing, and any line discounts already present are replaced.
    """
    shares = allocate(order.discount, [line.gross for line in order.lines])
    lines = [
        line.model_dump() | {"discount": share}
        for line, share in zip(order.lines, shares, strict=True)
    ]
    # Re-validate rather than model_copy: the copy keeps every Order invariant checked.
    return Order.model_validate(order.model_dump() | {"lines": lines})

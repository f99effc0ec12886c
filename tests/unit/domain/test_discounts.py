from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loyalty.domain.discounts import MONEY_QUANTUM, allocate, proportion_discount
from loyalty.domain.orders import Order, OrderLine

D = Decimal


def cents(units: int) -> Decimal:
    return units * MONEY_QUANTUM


amounts = st.integers(min_value=0, max_value=10**9).map(cents)
weight_lists = st.lists(st.integers(min_value=0, max_value=10**7).map(cents), max_size=30)


@st.composite
def totals_and_weights(draw: st.DrawFn) -> tuple[Decimal, list[Decimal]]:
    weights = draw(weight_lists)
    total = draw(amounts) if sum(weights) else D("0.00")
    return total, weights


@st.composite
def discounted_orders(draw: st.DrawFn) -> Order:
    line_specs = draw(
        st.lists(st.tuples(st.integers(1, 50), st.integers(0, 100_000)), min_size=1, max_size=20)
    )
    lines = [
        OrderLine(sku=f"SKU-{index}", quantity=quantity, unit_price=cents(price))
        for index, (quantity, price) in enumerate(line_specs)
    ]
    gross_cents = int(sum(line.gross for line in lines) / MONEY_QUANTUM)
    return Order(
        order_reference="ORD-1",
        loyalty_reference="LOY-1",
        merchant_reference="M-1",
        order_type="sale",
        currency="GBP",
        lines=lines,
        discount=cents(draw(st.integers(0, gross_cents))),
    )


# --- examples -------------------------------------------------------------------------


def test_leftover_cent_goes_to_the_earliest_tie() -> None:
    assert allocate(D("10.00"), [D(1), D(1), D(1)]) == [D("3.34"), D("3.33"), D("3.33")]


def test_leftover_goes_to_the_largest_remainder() -> None:
    # exact shares 0.333.., 0.666.. -> the second has the larger remainder
    assert allocate(D("1.00"), [D(1), D(2)]) == [D("0.33"), D("0.67")]


def test_the_leftover_goes_to_the_largest_remainder_not_the_largest_share() -> None:
    # exact 2.1 and 0.9 cents: the larger share (2.1) has the smaller remainder (0.1)
    assert allocate(D("0.03"), [D(7), D(3)]) == [D("0.02"), D("0.01")]


def test_proportional_split_without_remainders() -> None:
    assert allocate(D("6.00"), [D("10.00"), D("20.00")]) == [D("2.00"), D("4.00")]


def test_zero_weight_gets_nothing() -> None:
    assert allocate(D("0.05"), [D(0), D(1), D(0)]) == [D("0.00"), D("0.05"), D("0.00")]


def test_zero_total_over_zero_weights_is_all_zero() -> None:
    # In money's own form: a share shown as "0" instead of "0.00" would be a different amount
    # on the wire (Decimal equality ignores the exponent, so compare the text).
    assert [str(s) for s in allocate(D("0.00"), [D(0), D(0)])] == ["0.00", "0.00"]


def test_nothing_to_allocate_over_nothing() -> None:
    assert allocate(D("0.00"), []) == []


def test_other_quanta_are_honoured() -> None:
    assert allocate(D("0.25"), [D(1), D(1)], quantum=D("0.05")) == [D("0.15"), D("0.10")]


@pytest.mark.parametrize(
    ("total", "weights", "quantum"),
    [
        (D("1.00"), [D(0), D(0)], MONEY_QUANTUM),  # a non-zero total has nowhere to go
        (D("1.00"), [], MONEY_QUANTUM),
        (D("-1.00"), [D(1)], MONEY_QUANTUM),
        (D("1.00"), [D(1), D(-1)], MONEY_QUANTUM),
        (D("1.00"), [D(2), D(-1)], MONEY_QUANTUM),  # negative, though the weights sum to 1
        (D("1.00"), [D(1), D("Infinity")], MONEY_QUANTUM),
        (D("1.005"), [D(1)], MONEY_QUANTUM),  # not a whole number of cents
        (D("1.00"), [D(1)], D(0)),
        (D("NaN"), [D(1)], MONEY_QUANTUM),
    ],
)
def test_impossible_allocations_are_refused(
    total: Decimal, weights: list[Decimal], quantum: Decimal
) -> None:
    with pytest.raises(ValueError):
        allocate(total, weights, quantum)


# --- properties -----------------------------------------------------------------------


@given(totals_and_weights())
def test_shares_add_up_to_the_total_exactly(case: tuple[Decimal, list[Decimal]]) -> None:
    total, weights = case
    assert sum(allocate(total, weights), D("0.00")) == total


@given(totals_and_weights())
def test_shares_are_never_negative(case: tuple[Decimal, list[Decimal]]) -> None:
    total, weights = case
    assert all(share >= 0 for share in allocate(total, weights))


@given(totals_and_weights())
def test_shares_are_within_one_quantum_of_exact(case: tuple[Decimal, list[Decimal]]) -> None:
    total, weights = case
    weight_sum = Fraction(sum(weights, D(0)))
    for share, weight in zip(allocate(total, weights), weights, strict=True):
        exact = Fraction(total) * Fraction(weight) / weight_sum if weight_sum else Fraction(0)
        assert abs(Fraction(share) - exact) < Fraction(MONEY_QUANTUM)


@given(totals_and_weights())
def test_zero_weights_get_zero(case: tuple[Decimal, list[Decimal]]) -> None:
    total, weights = case
    for share, weight in zip(allocate(total, weights), weights, strict=True):
        if weight == 0:
            assert share == 0


@given(weight_lists.filter(any), st.data())
def test_shares_never_exceed_their_weight_when_total_fits(
    weights: list[Decimal], data: st.DataObject
) -> None:
    weight_cents = int(sum(weights) / MONEY_QUANTUM)
    total = cents(data.draw(st.integers(0, weight_cents)))

    for share, weight in zip(allocate(total, weights), weights, strict=True):
        assert share <= weight


@given(discounted_orders())
def test_proportioned_line_discounts_add_up_and_fit_each_line(order: Order) -> None:
    proportioned = proportion_discount(order)

    assert sum((line.discount for line in proportioned.lines), D("0.00")) == order.discount
    assert all(0 <= line.discount <= line.gross for line in proportioned.lines)


@given(discounted_orders())
def test_proportioning_is_idempotent(order: Order) -> None:
    once = proportion_discount(order)

    assert proportion_discount(once) == once


def test_proportioning_leaves_everything_but_line_discounts_alone() -> None:
    order = Order(
        order_reference="ORD-1",
        loyalty_reference="LOY-1",
        merchant_reference="M-1",
        order_type="sale",
        currency="GBP",
        lines=[
            OrderLine(sku="A", quantity=1, unit_price=D("30.00")),
            OrderLine(sku="B", quantity=2, unit_price=D("10.00")),
        ],
        discount=D("5.00"),
    )

    proportioned = proportion_discount(order)

    assert [line.discount for line in proportioned.lines] == [D("3.00"), D("2.00")]
    assert proportioned.model_copy(update={"lines": order.lines}) == order

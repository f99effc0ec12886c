from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loyalty.domain.discounts import MONEY_QUANTUM, proportion_discount
from loyalty.domain.orders import Order, OrderLine
from loyalty.domain.points import points_for_amount, points_for_order

D = Decimal

nets = st.integers(min_value=-(10**6), max_value=10**9).map(lambda units: units * MONEY_QUANTUM)
rates = st.sampled_from([D("0"), D("0.5"), D("1"), D("1.25"), D("2.5"), D("3"), D("10")])
line_specs = st.tuples(st.integers(1, 20), st.integers(0, 100_000))


NO_DISCOUNT = D("0.00")


def order_of(*lines: OrderLine, discount: Decimal = NO_DISCOUNT, **fields: object) -> Order:
    return Order.model_validate(
        {
            "order_reference": "ORD-1",
            "loyalty_reference": "LOY-1",
            "merchant_reference": "M-1",
            "order_type": "sale",
            "currency": "GBP",
            "lines": lines,
            "discount": discount,
            **fields,
        }
    )


def line_of(spec: tuple[int, int], sku: str = "A") -> OrderLine:
    quantity, price_cents = spec
    return OrderLine(sku=sku, quantity=quantity, unit_price=price_cents * MONEY_QUANTUM)


@pytest.mark.parametrize(
    ("net", "rate", "points"),
    [
        (D("9.99"), D("1"), 9),
        (D("10.00"), D("1"), 10),
        (D("3.99"), D("2.5"), 9),  # 9.975 rounds down
        (D("0.39"), D("2.5"), 0),
        (D("100.00"), D("0"), 0),
    ],
)
def test_points_are_rounded_down(net: Decimal, rate: Decimal, points: int) -> None:
    assert points_for_amount(net, rate) == points


def test_negative_net_earns_no_points() -> None:
    assert points_for_amount(D("-5.00"), D("1")) == 0


@pytest.mark.parametrize("rate", [D("-1"), D("NaN"), D("Infinity")])
def test_unusable_rate_is_refused(rate: Decimal) -> None:
    with pytest.raises(ValueError):
        points_for_amount(D("10.00"), rate)


@given(nets, rates)
def test_points_are_never_negative(net: Decimal, rate: Decimal) -> None:
    assert points_for_amount(net, rate) >= 0


@given(nets, nets, rates)
def test_points_grow_with_net_amount(a: Decimal, b: Decimal, rate: Decimal) -> None:
    low, high = sorted((a, b))
    assert points_for_amount(low, rate) <= points_for_amount(high, rate)


def test_order_points_are_rounded_per_line() -> None:
    # 2 x 0.60 earns 0 + 0 points at rate 1, not floor(1.20) = 1
    lines = [OrderLine(sku=sku, quantity=1, unit_price=D("0.60")) for sku in ("A", "B")]

    assert points_for_order(order_of(*lines), D("1")) == 0


def test_order_points_use_the_net_after_the_proportioned_discount() -> None:
    order = proportion_discount(
        order_of(OrderLine(sku="A", quantity=1, unit_price=D("10.00")), discount=D("2.50"))
    )

    assert points_for_order(order, D("2")) == 15


@given(line_specs, line_specs, rates)
def test_two_line_order_earns_what_two_one_line_orders_earn(
    first: tuple[int, int], second: tuple[int, int], rate: Decimal
) -> None:
    both = order_of(line_of(first, "A"), line_of(second, "B"))
    separately = points_for_order(order_of(line_of(first)), rate) + points_for_order(
        order_of(line_of(second)), rate
    )

    assert points_for_order(both, rate) == separately


@given(st.lists(line_specs, min_size=1, max_size=10), st.data(), rates)
def test_returning_each_line_deducts_exactly_what_the_sale_earned(
    specs: list[tuple[int, int]], data: st.DataObject, rate: Decimal
) -> None:
    # GIVEN a discounted sale, proportioned
    lines = [line_of(spec, f"SKU-{index}") for index, spec in enumerate(specs)]
    gross_cents = int(sum(line.gross for line in lines) / MONEY_QUANTUM)
    discount = data.draw(st.integers(0, gross_cents)) * MONEY_QUANTUM
    sale = proportion_discount(order_of(*lines, discount=discount))
    # WHEN every line is returned on its own, carrying its share of the discount
    returns = [
        proportion_discount(
            order_of(
                line,
                discount=line.discount,
                order_type="return",
                original_order_reference="ORD-1",
            )
        )
        for line in sale.lines
    ]
    # THEN the points deducted add up to exactly the points earned
    assert sum(points_for_order(r, rate) for r in returns) == points_for_order(sale, rate)

import json
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from loyalty.domain.orders import Order, OrderLine

RawOrder = Callable[..., dict[str, Any]]


def test_line_gross_and_net() -> None:
    line = OrderLine(sku="A", quantity=3, unit_price=Decimal("1.99"), discount=Decimal("0.50"))

    assert line.gross == Decimal("5.97")
    assert line.net == Decimal("5.47")


def test_gross_total_sums_the_lines(raw_order: RawOrder) -> None:
    assert Order.model_validate(raw_order()).gross_total == Decimal("20.00")


def test_amounts_are_stored_to_the_cent(raw_order: RawOrder) -> None:
    order = Order.model_validate(
        raw_order(discount=5, lines=[{"sku": "A", "quantity": 1, "unit_price": 19.99}])
    )

    assert order.discount == Decimal("5.00")
    assert str(order.lines[0].unit_price) == "19.99"


def test_json_dump_carries_decimals_as_strings(raw_order: RawOrder) -> None:
    dumped = Order.model_validate(raw_order(discount="1.5")).model_dump(mode="json")

    assert dumped["discount"] == "1.50"
    assert dumped["lines"][0]["unit_price"] == "4.50"
    assert dumped["lines"][0]["discount"] == "0.00"


def test_json_round_trip_gives_an_equal_order(raw_order: RawOrder) -> None:
    order = Order.model_validate(
        raw_order(
            discount="2.00",
            vouchers=[{"voucher_code": "V-1"}],
            rewards=[{"reward_code": "FREE_TEA"}],
            placed_at=datetime(2024, 5, 1, 12, 30, tzinfo=UTC),
        )
    )

    travelled = json.loads(json.dumps(order.model_dump(mode="json")))

    assert Order.model_validate(travelled) == order


def test_strings_are_stripped(raw_order: RawOrder) -> None:
    assert (
        Order.model_validate(raw_order(loyalty_reference="  LOY-42 ")).loyalty_reference == "LOY-42"
    )


def test_orders_are_frozen(raw_order: RawOrder) -> None:
    order = Order.model_validate(raw_order())

    with pytest.raises(ValidationError):
        order.discount = Decimal("1.00")  # type: ignore[misc]


def test_unknown_fields_are_refused(raw_order: RawOrder) -> None:
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        Order.model_validate(raw_order(colour="blue"))

from collections.abc import Callable
from typing import Any

import pytest

from loyalty.domain.errors import FieldProblem, OrderValidationError
from loyalty.domain.orders import Order
from loyalty.domain.validation import field_path, validate_order

RawOrder = Callable[..., dict[str, Any]]


def problems_of(raw: Any) -> list[FieldProblem]:
    with pytest.raises(OrderValidationError) as caught:
        validate_order(raw)
    return caught.value.problems


def test_valid_order_is_returned_as_an_order(raw_order: RawOrder) -> None:
    assert isinstance(validate_order(raw_order()), Order)


def test_missing_loyalty_reference(raw_order: RawOrder) -> None:
    assert problems_of(raw_order(loyalty_reference=None)) == [
        FieldProblem("loyalty_reference", "Field required")
    ]


def test_zero_quantity_is_reported_on_its_line(raw_order: RawOrder) -> None:
    raw = raw_order(lines=[{"sku": "A", "quantity": 1, "unit_price": "1"}] * 2)
    raw["lines"][1] = {"sku": "B", "quantity": 0, "unit_price": "1"}

    assert problems_of(raw) == [FieldProblem("lines[1].quantity", "Input should be greater than 0")]


def test_price_with_three_decimals(raw_order: RawOrder) -> None:
    raw = raw_order(lines=[{"sku": "A", "quantity": 1, "unit_price": "1.999"}])

    assert problems_of(raw) == [
        FieldProblem(
            "lines[0].unit_price", "Decimal input should have no more than 2 decimal places"
        )
    ]


def test_discount_above_gross_total(raw_order: RawOrder) -> None:
    assert problems_of(raw_order(discount="20.01")) == [
        FieldProblem("discount", "must not exceed the gross total of the lines (20.00)")
    ]


def test_line_discount_above_line_gross(raw_order: RawOrder) -> None:
    raw = raw_order(lines=[{"sku": "A", "quantity": 1, "unit_price": "1", "discount": "2"}])

    assert problems_of(raw) == [
        FieldProblem("lines[0].discount", "must not exceed the line's gross amount (1.00)")
    ]


def test_return_with_vouchers(raw_order: RawOrder) -> None:
    raw = raw_order(
        order_type="return",
        original_order_reference="ORD-1000",
        vouchers=[{"voucher_code": "V-1"}],
    )

    assert problems_of(raw) == [FieldProblem("vouchers", "must be empty for a return")]


def test_return_without_original_order_reference(raw_order: RawOrder) -> None:
    assert problems_of(raw_order(order_type="return")) == [
        FieldProblem("original_order_reference", "is required for a return")
    ]


def test_sale_with_original_order_reference(raw_order: RawOrder) -> None:
    assert problems_of(raw_order(original_order_reference="ORD-1000")) == [
        FieldProblem("original_order_reference", "must not be set for a sale")
    ]


def test_duplicate_voucher_codes_point_at_the_repeat(raw_order: RawOrder) -> None:
    raw = raw_order(vouchers=[{"voucher_code": "V-1"}, {"voucher_code": "V-1"}])

    assert problems_of(raw) == [FieldProblem("vouchers[1].voucher_code", "duplicate code 'V-1'")]


def test_duplicate_reward_codes_point_at_the_repeat(raw_order: RawOrder) -> None:
    raw = raw_order(rewards=[{"reward_code": "R"}, {"reward_code": "S"}, {"reward_code": "R"}])

    assert problems_of(raw) == [FieldProblem("rewards[2].reward_code", "duplicate code 'R'")]


@pytest.mark.parametrize("currency", ["gbp", "GB", "GBPX", "£££"])
def test_bad_currency(raw_order: RawOrder, currency: str) -> None:
    assert problems_of(raw_order(currency=currency)) == [
        FieldProblem("currency", "String should match pattern '^[A-Z]{3}$'")
    ]


@pytest.mark.parametrize("reference", ["ORD:1", "ORD 1", "-ORD", "O" * 65])
def test_order_reference_must_be_usable_as_an_execution_name(
    raw_order: RawOrder, reference: str
) -> None:
    assert [p.field for p in problems_of(raw_order(order_reference=reference))] == [
        "order_reference"
    ]


def test_all_cross_field_problems_are_reported_together(raw_order: RawOrder) -> None:
    raw = raw_order(
        discount="99.00",
        vouchers=[{"voucher_code": "V"}, {"voucher_code": "V"}],
        original_order_reference="ORD-1000",
    )

    assert [p.field for p in problems_of(raw)] == [
        "discount",
        "vouchers[1].voucher_code",
        "original_order_reference",
    ]


def test_problems_come_in_a_stable_field_order(raw_order: RawOrder) -> None:
    raw = raw_order(currency="x", loyalty_reference=None, lines=[{"sku": "", "quantity": 0}])

    assert [p.field for p in problems_of(raw)] == [
        "loyalty_reference",
        "currency",
        "lines[0].sku",
        "lines[0].quantity",
        "lines[0].unit_price",
    ]


def test_non_object_is_a_whole_order_problem() -> None:
    assert [p.field for p in problems_of(["not", "an", "order"])] == ["order"]


def test_error_message_names_fields_and_problems(raw_order: RawOrder) -> None:
    with pytest.raises(OrderValidationError, match=r"^order is invalid: currency: String should"):
        validate_order(raw_order(currency="x"))


@pytest.mark.parametrize(
    ("loc", "path"),
    [
        ((), ""),
        (("discount",), "discount"),
        (("lines", 0, "quantity"), "lines[0].quantity"),
        (("vouchers", 1, "voucher_code"), "vouchers[1].voucher_code"),
    ],
)
def test_field_path_is_readable(loc: tuple[int | str, ...], path: str) -> None:
    assert field_path(loc) == path

import copy
from collections.abc import Callable
from typing import Any

import pytest

from loyalty.domain.errors import FieldProblem, OrderValidationError, UnknownOrderType
from loyalty.domain.recognition import recognise_order

RawOrder = Callable[..., dict[str, Any]]


@pytest.mark.parametrize(
    ("given", "expected"), [("sale", "sale"), ("return", "return"), ("  Return ", "return")]
)
def test_explicit_order_type_is_normalised(raw_order: RawOrder, given: str, expected: str) -> None:
    assert recognise_order(raw_order(order_type=given))["order_type"] == expected


def test_explicit_unknown_order_type_is_refused(raw_order: RawOrder) -> None:
    with pytest.raises(UnknownOrderType) as caught:
        recognise_order(raw_order(order_type="exchange"))

    assert str(caught.value) == (
        "order type 'exchange' is not supported; expected 'sale' or 'return'"
    )


def test_non_string_order_type_is_refused_and_shown_as_given(raw_order: RawOrder) -> None:
    with pytest.raises(UnknownOrderType, match=r"^order type 42 is not supported"):
        recognise_order(raw_order(order_type=42))


def test_explicit_type_wins_over_negative_quantities(raw_order: RawOrder) -> None:
    # GIVEN an explicit sale with a negative line THEN recognition leaves it for validation
    raw = raw_order(lines=[{"sku": "A", "quantity": -1, "unit_price": "1.00"}])

    recognised = recognise_order(raw)

    assert recognised["order_type"] == "sale"
    assert recognised["lines"][0]["quantity"] == -1


@pytest.mark.parametrize(
    "type_hint",
    [{"order_type": "return"}, {"order_type": None, "original_order_reference": "ORD-1000"}],
)
def test_a_return_from_a_legacy_till_gets_positive_quantities_however_its_type_is_given(
    raw_order: RawOrder, type_hint: dict[str, Any]
) -> None:
    raw = raw_order(lines=[{"sku": "A", "quantity": -2, "unit_price": "1.00"}], **type_hint)

    recognised = recognise_order(raw)

    assert recognised["order_type"] == "return"
    assert recognised["lines"] == [{"sku": "A", "quantity": 2, "unit_price": "1.00"}]


def test_original_order_reference_without_type_means_return(raw_order: RawOrder) -> None:
    raw = raw_order(order_type=None, original_order_reference="ORD-1000")

    assert recognise_order(raw)["order_type"] == "return"


def test_null_order_type_is_treated_as_absent(raw_order: RawOrder) -> None:
    raw = raw_order(original_order_reference="ORD-1000") | {"order_type": None}

    assert recognise_order(raw)["order_type"] == "return"


def test_blank_original_order_reference_does_not_make_a_return(raw_order: RawOrder) -> None:
    raw = raw_order(order_type=None, original_order_reference="  ")

    assert recognise_order(raw)["order_type"] == "sale"


def test_all_negative_quantities_are_a_legacy_return_made_positive(raw_order: RawOrder) -> None:
    raw = raw_order(
        order_type=None,
        lines=[
            {"sku": "A", "quantity": -2, "unit_price": "1.00"},
            {"sku": "B", "quantity": -1, "unit_price": "3.00"},
        ],
    )

    recognised = recognise_order(raw)

    assert recognised["order_type"] == "return"
    assert recognised["lines"] == [
        {"sku": "A", "quantity": 2, "unit_price": "1.00"},
        {"sku": "B", "quantity": 1, "unit_price": "3.00"},
    ]


def test_mixed_sold_and_returned_lines_are_refused(raw_order: RawOrder) -> None:
    raw = raw_order(
        order_type=None,
        lines=[
            {"sku": "A", "quantity": -2, "unit_price": "1.00"},
            {"sku": "B", "quantity": 1, "unit_price": "3.00"},
        ],
    )

    with pytest.raises(UnknownOrderType) as caught:
        recognise_order(raw)

    assert str(caught.value) == "order mixes sold and returned lines; send them as separate orders"


def test_positive_quantities_without_type_mean_sale(raw_order: RawOrder) -> None:
    assert recognise_order(raw_order(order_type=None))["order_type"] == "sale"


@pytest.mark.parametrize("lines", [None, "not a list", [], ["not a line"], [{"quantity": "-1"}]])
def test_unreadable_lines_default_to_sale_for_validation_to_judge(
    raw_order: RawOrder, lines: object
) -> None:
    raw = raw_order(order_type=None) | {"lines": lines}

    assert recognise_order(raw)["order_type"] == "sale"


def test_boolean_quantity_is_not_a_count(raw_order: RawOrder) -> None:
    raw = raw_order(order_type=None, lines=[{"sku": "A", "quantity": True, "unit_price": "1"}])

    assert recognise_order(raw)["order_type"] == "sale"


@pytest.mark.parametrize("not_an_object", [None, [], "order", 7])
def test_non_object_input_is_a_validation_error(not_an_object: Any) -> None:
    with pytest.raises(OrderValidationError) as caught:
        recognise_order(not_an_object)

    assert caught.value.problems == [FieldProblem("order", "must be a JSON object")]


def test_input_is_never_mutated(raw_order: RawOrder) -> None:
    raw = raw_order(order_type=None, lines=[{"sku": "A", "quantity": -2, "unit_price": "1.00"}])
    before = copy.deepcopy(raw)

    recognised = recognise_order(raw)

    assert raw == before
    assert recognised is not raw

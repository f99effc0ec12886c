from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from loyalty.domain.approval import ApprovalPolicy, approval_reasons
from loyalty.domain.orders import Order

POLICY = ApprovalPolicy(return_threshold=Decimal("500.00"))


def order(**changes: Any) -> Order:
    data: dict[str, Any] = {
        "order_reference": "R-1",
        "loyalty_reference": "member",
        "merchant_reference": "merchant",
        "order_type": "return",
        "original_order_reference": "S-1",
        "currency": "GBP",
        "lines": [{"sku": "A", "quantity": 1, "unit_price": "500.00"}],
    }
    data.update(changes)
    return Order.model_validate(data)


def test_a_return_at_the_threshold_needs_no_approval() -> None:
    assert approval_reasons(order(), POLICY) == []


def test_a_return_above_the_threshold_waits_for_a_person() -> None:
    reasons = approval_reasons(
        order(lines=[{"sku": "A", "quantity": 1, "unit_price": "500.01"}]), POLICY
    )
    assert reasons == ["return of 500.01 GBP is above the approval threshold of 500.00 GBP"]


def test_the_threshold_applies_to_the_net_amount() -> None:
    big_but_discounted = order(
        lines=[{"sku": "A", "quantity": 1, "unit_price": "600.00", "discount": "150.00"}]
    )
    assert approval_reasons(big_but_discounted, POLICY) == []


def test_a_sale_of_any_size_needs_no_approval_for_its_amount() -> None:
    sale = order(
        order_type="sale",
        original_order_reference=None,
        lines=[{"sku": "A", "quantity": 9, "unit_price": "999.00"}],
    )
    assert approval_reasons(sale, POLICY) == []


@pytest.mark.parametrize(("discount", "flagged"), [("50.00", False), ("50.01", True)])
def test_a_discount_of_more_than_half_is_flagged(discount: str, flagged: bool) -> None:
    sale = order(
        order_type="sale",
        original_order_reference=None,
        lines=[{"sku": "A", "quantity": 1, "unit_price": "100.00"}],
        discount=discount,
    )
    reasons = approval_reasons(sale, POLICY)
    assert bool(reasons) is flagged
    if flagged:
        assert reasons == ["discount of 50.01 GBP is more than 50% of the order's 100.00 GBP"]

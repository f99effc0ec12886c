"""Builders for orders in the shape upstream systems send them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

RawOrderFactory = Callable[..., dict[str, Any]]


@pytest.fixture
def raw_order() -> RawOrderFactory:
    """A valid raw sale; keyword arguments replace (or, with None, drop) fields."""

    def build(**changes: Any) -> dict[str, Any]:
        order: dict[str, Any] = {
            "order_reference": "ORD-1001",
            "loyalty_reference": "LOY-42",
            "merchant_reference": "STORE-7",
            "order_type": "sale",
            "currency": "GBP",
            "lines": [
                {"sku": "TEA-1", "quantity": 2, "unit_price": "4.50"},
                {"sku": "MUG-1", "quantity": 1, "unit_price": "11.00"},
            ],
        }
        order.update(changes)
        return {key: value for key, value in order.items() if value is not None}

    return build

"""The reference orders the benchmarks measure (the issue's: a sale with two vouchers and one
instant reward; a return; a return that waits for a person), codes unique to each order."""

from __future__ import annotations

from typing import Any

from fake_vendor import FakeVendor
from local_cloud.run.order_mix import MEMBERS
from local_cloud.run.sample_orders import MERCHANT

_BASE = {"loyalty_reference": MEMBERS[0], "merchant_reference": MERCHANT, "currency": "GBP"}


def reference_sale(reference: str) -> dict[str, Any]:
    return {
        **_BASE,
        "order_reference": reference,
        "order_type": "sale",
        "lines": [
            {"sku": "LEGO-42151", "quantity": 2, "unit_price": "49.99"},
            {"sku": "LEGO-60337", "quantity": 1, "unit_price": "99.99"},
        ],
        "discount": "10.00",
        "vouchers": [{"voucher_code": f"{reference}-V1"}, {"voucher_code": f"{reference}-V2"}],
        "rewards": [{"reward_code": f"{reference}-R1"}],
    }


def reference_return(reference: str, *, awaiting_approval: bool = False) -> dict[str, Any]:
    """A return; with ``awaiting_approval``, one above the approval threshold (500.00)."""
    line = (
        {"sku": "LEGO-10294", "quantity": 1, "unit_price": "679.99"}
        if awaiting_approval
        else {"sku": "LEGO-60337", "quantity": 1, "unit_price": "99.99"}
    )
    return {
        **_BASE,
        "order_reference": reference,
        "order_type": "return",
        "original_order_reference": f"ORIG-{reference}",
        "lines": [line],
    }


def seed_members(vendor: FakeVendor) -> None:
    """The member every reference order belongs to, with points enough for any return."""
    vendor.add_account(MEMBERS[0], balance=1_000_000)


def seed_codes(vendor: FakeVendor, order: dict[str, Any]) -> None:
    """Register the order's vouchers and rewards with the fake vendor."""
    for voucher in order.get("vouchers", []):
        vendor.add_voucher(voucher["voucher_code"])
    for reward in order.get("rewards", []):
        vendor.add_reward(reward["reward_code"])

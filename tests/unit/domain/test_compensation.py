"""What a failed order gives back, and how its compensation ends."""

from __future__ import annotations

from loyalty.contract import REVERSAL_OF, VendorRequestType
from loyalty.domain.compensation import plan_compensation


def test_only_what_was_applied_is_reversed_and_points_not_applied_are_zero() -> None:
    plan = plan_compensation(
        order_type="sale",
        points=120,
        items={
            "points": {"status": "ERROR", "error": "VendorRejected"},
            "reward#R-1": {"status": "SUBMITTED"},
            "voucher#V-2": {"status": "COMPENSATION_FAILED"},
            "voucher#V-1": {"status": "SUBMITTED"},
            "voucher#V-3": {"status": "ERROR"},
        },
    )
    assert plan == {
        "points_type": REVERSAL_OF[VendorRequestType.SALE].value,
        "points": 0,  # not applied: the mediator answers a 0-point request without a call
        "vouchers": [{"voucher_code": "V-1"}, {"voucher_code": "V-2"}],
        "rewards": [{"reward_code": "R-1"}],
    }


def test_applied_points_are_given_back_in_full() -> None:
    plan = plan_compensation(
        order_type="return", points=75, items={"points": {"status": "SUBMITTED"}}
    )
    assert plan == {
        "points_type": REVERSAL_OF[VendorRequestType.RETURN].value,
        "points": 75,
        "vouchers": [],
        "rewards": [],
    }


def test_nothing_applied_needs_no_compensation() -> None:
    items = {"points": {"status": "ERROR"}, "voucher#V-1": {"status": "PENDING"}}
    assert plan_compensation(order_type="sale", points=10, items=items) is None

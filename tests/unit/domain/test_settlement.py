"""How an order ends, from what its items' records say the vendor did."""

from __future__ import annotations

from typing import Any

import pytest

from loyalty.domain.settlement import final_status, named_error, settle
from loyalty.order_status import OrderStatus


def item(status: str, **more: Any) -> dict[str, Any]:
    return {"status": status, **more}


def test_every_item_applied_completes() -> None:
    settlement = settle({"points": item("SUBMITTED"), "voucher#V-1": item("SUBMITTED")})
    assert settlement.completed
    assert settlement.unanswered == ()


def test_no_items_at_all_completes() -> None:
    assert settle({}).completed


def test_the_first_refused_item_names_the_error_points_first() -> None:
    settlement = settle(
        {
            "voucher#V-2": item("ERROR", error="VendorUnavailable", reason="down"),
            "voucher#V-1": item("ERROR", error="VendorRejected", reason="already redeemed"),
            "points": item("SUBMITTED"),
            "reward#R-1": item("ERROR", error="VendorRejected", reason="unknown reward"),
        }
    )
    assert settlement.error == "VendorRejected"
    assert settlement.cause == (
        "voucher#V-1 not applied: already redeemed (and voucher#V-2, reward#R-1)"
    )


def test_a_pending_item_after_the_vendor_steps_may_have_been_applied() -> None:
    settlement = settle(
        {
            "points": item("SUBMITTED"),
            "voucher#V-1": item("PENDING"),
            "voucher#V-2": item("ERROR", error="VendorRejected", reason="used"),
        }
    )
    assert settlement.error == "VendorOutcomeUnknown"
    assert settlement.unanswered == ("voucher#V-1",)
    assert "voucher#V-1 (its vendor step ended without an answer)" in settlement.cause
    assert "not applied: voucher#V-2 (used)" in settlement.cause


def test_an_unknown_item_wins_over_a_refused_one() -> None:
    settlement = settle(
        {
            "points": item("ERROR", error="VendorRejected", reason="insufficient points"),
            "voucher#V-1": item("UNKNOWN", error="VendorOutcomeUnknown", reason="lost"),
        }
    )
    assert settlement.error == "VendorOutcomeUnknown"
    assert settlement.unanswered == ()


def test_a_long_list_of_items_is_counted_not_spelled_out() -> None:
    settlement = settle({f"voucher#V-{i:04d}": item("PENDING") for i in range(1000)})
    assert settlement.cause.endswith("and 995 more")
    assert len(settlement.unanswered) == 1000


@pytest.mark.parametrize(
    ("error", "items", "status"),
    [
        ("VendorRejected", {"points": item("SUBMITTED")}, OrderStatus.FAILED),
        ("VendorOutcomeUnknown", {}, OrderStatus.NEEDS_RECONCILIATION),
        ("OrderValidationError", {"points": item("UNKNOWN")}, OrderStatus.NEEDS_RECONCILIATION),
        ("StepTimedOut", {"points": item("PENDING")}, OrderStatus.FAILED),
    ],
)
def test_the_final_status(error: str, items: dict[str, Any], status: OrderStatus) -> None:
    assert final_status(error, items) is status


def test_step_functions_own_errors_are_renamed_keeping_the_original_in_the_cause() -> None:
    assert named_error("States.Runtime", "bad path") == ("StepFailed", "States.Runtime: bad path")
    assert named_error("States.DataLimitExceeded", None) == (
        "StepFailed",
        "States.DataLimitExceeded: no cause given",
    )
    assert named_error("VendorRejected", "used") == ("VendorRejected", "used")
    assert named_error("StepTimedOut", None) == ("StepTimedOut", "")

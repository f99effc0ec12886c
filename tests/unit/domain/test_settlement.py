"""How an order ends, from what its items' records say the vendor did."""

from __future__ import annotations

import json
from typing import Any

import pytest

from loyalty.domain.settlement import final_status, item_statuses, named_error, settle
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


def test_refused_points_come_before_vouchers_and_rewards_whatever_the_records_order() -> None:
    settlement = settle(
        {
            "reward#R-1": item("ERROR", error="VendorRejected", reason="unknown reward"),
            "voucher#V-1": item("ERROR", error="VendorUnavailable", reason="down"),
            "points": item("ERROR", error="VendorRejected", reason="insufficient_points"),
        }
    )
    assert (settlement.error, settlement.cause) == (
        "VendorRejected",
        "points not applied: insufficient_points (and voucher#V-1, reward#R-1)",
    )


def test_a_second_refused_item_is_named_after_the_first() -> None:
    settlement = settle(
        {
            "voucher#V-1": item("ERROR", error="VendorRejected", reason="already redeemed"),
            "points": item("ERROR", error="VendorRejected", reason="insufficient_points"),
        }
    )
    assert settlement.cause == "points not applied: insufficient_points (and voucher#V-1)"


def test_one_refused_item_is_named_alone() -> None:
    settlement = settle(
        {
            "points": item("SUBMITTED"),
            "voucher#V-1": item("ERROR", error="VendorRejected", reason="already redeemed"),
        }
    )
    assert settlement.cause == "voucher#V-1 not applied: already redeemed"


@pytest.mark.parametrize(
    ("count", "ending"),
    [(5, "voucher#V-4 (its vendor step ended without an answer)"), (6, " and 1 more")],
)
def test_a_cause_names_five_items_then_counts_the_rest(count: int, ending: str) -> None:
    settlement = settle({f"voucher#V-{i}": item("PENDING") for i in range(count)})
    assert settlement.cause.endswith(ending)
    assert settlement.cause.count("voucher#V-") == 5


def test_an_event_lists_each_items_status_and_error_only() -> None:
    items = {
        "points": item("SUBMITTED", vendor_references=["txn_1"]),
        "voucher#V-1": item("ERROR", error="VendorRejected", reason="already redeemed"),
    }
    assert item_statuses(items) == {
        "items": {
            "points": {"status": "SUBMITTED"},
            "voucher#V-1": {"status": "ERROR", "error": "VendorRejected"},
        }
    }


def test_an_event_lists_items_up_to_96_kib_of_json_then_counts_them() -> None:
    # 96 KiB (98,304 bytes) leaves the rest of EventBridge's 256 KB entry for the event itself.
    empty = len(json.dumps({"points": {"status": ""}}))

    fits, too_long = "S" * (98_304 - empty), "S" * (98_305 - empty)

    assert item_statuses({"points": item(fits)}) == {"items": {"points": {"status": fits}}}
    assert item_statuses({"points": item(too_long)}) == {"items_by_status": {too_long: 1}}


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

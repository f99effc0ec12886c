"""The per-item truth check: each item's record, its order's last event and the vendor's ledger
under the item's idempotency key must say the same thing."""

from __future__ import annotations

from typing import Any

import pytest

from local_cloud.run.truth_check import check_truth, item_idempotency_key

REF = "R-1"
POINTS_KEY = "R-1:sale:points"
VOUCHER = "voucher#V-1"
VOUCHER_KEY = "R-1:voucher:V-1"


def item(status: str, *references: str) -> dict[str, Any]:
    return {"status": status, "vendor_references": list(references)}


def record(status: str, items: dict[str, dict[str, Any]], earned: int = 10) -> dict[str, Any]:
    return {"order_type": "sale", "status": status, "points": earned, "items": items}


def ended(kind: str, **statuses: str) -> dict[str, Any]:
    return {
        "detail-type": kind,
        "detail": {"items": {k: {"status": s} for k, s in statuses.items()}},
    }


def problems(
    rec: dict[str, Any] | None, applied: dict[str, list[str]], *events: dict[str, Any]
) -> list[str]:
    found = check_truth({REF: rec}, {REF: list(events)}, applied).disagreements
    return [str(d["problem"]) for d in found]


def test_the_idempotency_keys_are_the_mediators() -> None:
    assert item_idempotency_key(REF, "sale", "points") == "R-1:sale:points"
    assert item_idempotency_key(REF, "return", "points") == "R-1:return:points"
    assert item_idempotency_key(REF, "sale", "voucher#V-1") == "R-1:voucher:V-1"
    assert item_idempotency_key(REF, "sale", "reward#R#2") == "R-1:reward:R#2"


def test_a_completed_order_whose_items_match_the_ledger_agrees() -> None:
    rec = record(
        "COMPLETED", {"points": item("SUBMITTED", "txn-1"), VOUCHER: item("SUBMITTED", "red-1")}
    )
    applied = {POINTS_KEY: ["txn-1"], VOUCHER_KEY: ["red-1"]}
    check = check_truth({REF: rec}, {REF: [ended("order.completed")]}, applied)
    assert (check.ok, check.items, check.unknown) == (True, 2, 0)


def test_zero_points_submitted_with_no_ledger_entry_agrees() -> None:
    rec = record("COMPLETED", {"points": item("SUBMITTED")}, earned=0)
    assert problems(rec, {}, ended("order.completed")) == []


def test_anything_else_submitted_needs_the_vendors_reference() -> None:
    rec = record("COMPLETED", {"points": item("SUBMITTED"), VOUCHER: item("SUBMITTED")})
    assert (
        problems(rec, {}, ended("order.completed"))
        == ["recorded SUBMITTED without the vendor's reference"] * 2
    )


@pytest.mark.parametrize(
    ("recorded", "applied", "problem"),
    [
        (item("ERROR"), {POINTS_KEY: ["txn-1"]}, "recorded ERROR, but the vendor applied it"),
        (item("PENDING"), {POINTS_KEY: ["txn-1"]}, "recorded PENDING, but the vendor applied it"),
        (item("SUBMITTED", "txn-1"), {}, "recorded SUBMITTED, but the vendor's ledger differs"),
        (
            item("SUBMITTED", "txn-1"),
            {POINTS_KEY: ["txn-2"]},
            "recorded SUBMITTED, but the vendor's ledger differs",
        ),
        (item("SUBMITTED", "txn-1"), {POINTS_KEY: ["txn-1", "txn-2"]}, "applied more than once"),
    ],
)
def test_a_record_that_differs_from_the_ledger_is_a_disagreement(
    recorded: dict[str, Any], applied: dict[str, list[str]], problem: str
) -> None:
    rec = record("FAILED", {"points": recorded})
    said = ended("order.failed", points=recorded["status"])
    assert problem in problems(rec, applied, said)


def test_a_pending_item_of_a_running_order_is_still_on_its_way() -> None:
    rec = record("PROCESSING", {"points": item("PENDING")})
    assert problems(rec, {POINTS_KEY: ["txn-1"]}) == []


@pytest.mark.parametrize("applied", [{}, {POINTS_KEY: ["txn-1"]}])
def test_unknown_is_honest_either_way_and_counted(applied: dict[str, list[str]]) -> None:
    rec = record("NEEDS_RECONCILIATION", {"points": item("UNKNOWN")})
    parked = ended("order.needs-reconciliation", points="UNKNOWN")
    check = check_truth({REF: rec}, {REF: [parked]}, applied)
    assert check.ok
    assert (check.unknown, check.unknown_applied) == (1, len(applied))


def test_an_effect_no_record_accounts_for_is_a_disagreement() -> None:
    assert problems(None, {" R-1:sale:points": ["txn-9"]}) == [
        "the vendor applied an effect no order's record accounts for"
    ]


def test_the_last_event_is_the_one_the_records_status_announces() -> None:
    rec = record("FAILED", {"points": item("ERROR")})
    assert problems(rec, {}, ended("order.completed")) == [
        "the record says FAILED, the last event was order.completed",
        "order.completed, but items were not applied",
    ]
    assert problems(rec, {}) == ["the record says FAILED, the last event was none"]


def test_the_last_event_must_list_the_records_statuses() -> None:
    rec = record("FAILED", {"points": item("SUBMITTED", "txn-1"), VOUCHER: item("ERROR")})
    applied = {POINTS_KEY: ["txn-1"]}
    early = ended("order.failed", points="PENDING", **{VOUCHER: "ERROR"})
    assert problems(rec, applied, early) == ["order.failed said PENDING, the record says SUBMITTED"]
    right = ended("order.failed", points="SUBMITTED", **{VOUCHER: "ERROR"})
    assert problems(rec, applied, early, right) == []  # the last one counts


def test_an_event_that_said_unknown_may_have_been_settled_since() -> None:
    rec = record("NEEDS_RECONCILIATION", {"points": item("SUBMITTED", "txn-1")})
    parked = ended("order.needs-reconciliation", points="UNKNOWN")
    assert problems(rec, {POINTS_KEY: ["txn-1"]}, parked) == []


def test_an_order_too_large_to_list_is_checked_by_its_counts() -> None:
    rec = record("FAILED", {"points": item("SUBMITTED", "txn-1"), VOUCHER: item("ERROR")})
    applied = {POINTS_KEY: ["txn-1"]}

    def counted(counts: dict[str, int]) -> dict[str, Any]:
        return {"detail-type": "order.failed", "detail": {"items_by_status": counts}}

    assert problems(rec, applied, counted({"SUBMITTED": 1})) == [
        "order.failed counted {'SUBMITTED': 1}, the record {'SUBMITTED': 1, 'ERROR': 1}"
    ]
    assert problems(rec, applied, counted({"SUBMITTED": 1, "ERROR": 1})) == []


def test_completed_means_every_item_applied_and_rejected_means_none() -> None:
    rec = record("COMPLETED", {"points": item("ERROR")})
    assert problems(rec, {}, ended("order.completed")) == [
        "order.completed, but items were not applied"
    ]
    applied_rec = record("REJECTED", {"points": item("SUBMITTED", "txn-1")})
    assert problems(applied_rec, {POINTS_KEY: ["txn-1"]}, ended("order.rejected")) == [
        "order.rejected, but items were applied"
    ]


def test_a_compensated_order_is_net_zero_at_the_vendor_item_by_item() -> None:
    rec = {
        **record("FAILED", {"points": item("COMPENSATED"), VOUCHER: item("COMPENSATED")}),
        "compensation_ended_at": "t",
    }
    applied = {
        POINTS_KEY: ["txn-1"],
        "R-1:sale-reversal:points": ["txn-2"],
        VOUCHER_KEY: ["red-1"],
        "R-1:voucher-reversal:V-1": ["rev-1"],
    }
    said = ended("order.compensated", points="COMPENSATED", **{VOUCHER: "COMPENSATED"})
    check = check_truth({REF: rec}, {REF: [said]}, applied)
    assert (check.ok, check.compensated) == (True, 1), check.disagreements


@pytest.mark.parametrize(
    ("points", "applied", "problem"),
    [
        ("COMPENSATED", {POINTS_KEY: ["txn-1"]}, "recorded COMPENSATED, but net 1 at the vendor"),
        ("COMPENSATED", {POINTS_KEY: ["txn-1"]}, "compensated, but net 1 at the vendor"),
        (
            "COMPENSATION_FAILED",
            {POINTS_KEY: ["txn-1"], "R-1:sale-reversal:points": ["txn-2"]},
            "recorded COMPENSATION_FAILED, but net 0 at the vendor",
        ),
        (
            "SUBMITTED",
            {POINTS_KEY: ["txn-1"], "R-1:sale-reversal:points": ["txn-2"]},
            "recorded SUBMITTED, but the vendor reversed it",
        ),
        ("ERROR", {"R-1:sale-reversal:points": ["txn-2"]}, "reversed more often than applied"),
    ],
)
def test_a_reversal_the_record_does_not_match_is_a_disagreement(
    points: str, applied: dict[str, list[str]], problem: str
) -> None:
    rec = {**record("FAILED", {"points": item(points, "txn-1")}), "compensation_ended_at": "t"}
    assert problem in problems(rec, applied, ended("order.compensated", points=points))


def test_a_re_runs_effects_are_the_items_own() -> None:
    # Refused in the first run, redeemed in the re-run under its own key.
    rec = record("COMPLETED", {VOUCHER: item("SUBMITTED", "red-2")})
    check = check_truth(
        {REF: rec}, {REF: [ended("order.completed")]}, {f"{VOUCHER_KEY}+2": ["red-2"]}
    )
    assert check.ok, check.disagreements

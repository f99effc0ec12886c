"""The per-item truth check: each item's record, its order's last event and the vendor's ledger
under the item's idempotency key must say the same thing."""

from __future__ import annotations

from typing import Any

import pytest

from local_cloud.truth_check import check_truth, item_idempotency_key

REF = "R-1"


def record(**items: dict[str, Any]) -> dict[str, Any]:
    return {"order_type": "sale", "items": items}


def item(status: str, *references: str) -> dict[str, Any]:
    return {"status": status, "vendor_references": list(references)}


def ended(kind: str, **statuses: str) -> dict[str, Any]:
    return {
        "detail-type": kind,
        "detail": {"items": {k: {"status": s} for k, s in statuses.items()}},
    }


def problems(
    rec: dict[str, Any] | None,
    applied: dict[str, list[str]],
    *events: dict[str, Any],
) -> list[str]:
    found = check_truth({REF: rec}, {REF: list(events)}, applied).disagreements
    return [str(d["problem"]) for d in found]


def test_the_idempotency_keys_are_the_mediators() -> None:
    assert item_idempotency_key(REF, "sale", "points") == "R-1:sale:points"
    assert item_idempotency_key(REF, "return", "points") == "R-1:return:points"
    assert item_idempotency_key(REF, "sale", "voucher#V-1") == "R-1:voucher:V-1"
    assert item_idempotency_key(REF, "sale", "reward#R#2") == "R-1:reward:R#2"


def test_a_completed_order_whose_items_match_the_ledger_agrees() -> None:
    rec = record(points=item("SUBMITTED", "txn-1"), **{"voucher#V-1": item("SUBMITTED", "red-1")})
    applied = {"R-1:sale:points": ["txn-1"], "R-1:voucher:V-1": ["red-1"]}
    check = check_truth({REF: rec}, {REF: [ended("order.completed")]}, applied)
    assert (check.ok, check.items, check.unknown) == (True, 2, 0)


def test_zero_points_submitted_with_no_ledger_entry_agrees() -> None:
    assert problems(record(points=item("SUBMITTED")), {}, ended("order.completed")) == []


@pytest.mark.parametrize(
    ("recorded", "applied", "problem"),
    [
        (
            item("ERROR"),
            {"R-1:sale:points": ["txn-1"]},
            "recorded ERROR, but the vendor applied it",
        ),
        (item("PENDING"), {"R-1:sale:points": ["txn-1"]}, "recorded PENDING, but the vendor"),
        (item("SUBMITTED", "txn-1"), {}, "recorded SUBMITTED, but the vendor's ledger differs"),
        (
            item("SUBMITTED", "txn-1"),
            {"R-1:sale:points": ["txn-2"]},
            "recorded SUBMITTED, but the vendor's ledger differs",
        ),
        (
            item("SUBMITTED", "txn-1"),
            {"R-1:sale:points": ["txn-1", "txn-2"]},
            "applied more than once",
        ),
    ],
)
def test_a_record_that_differs_from_the_ledger_is_a_disagreement(
    recorded: dict[str, Any], applied: dict[str, list[str]], problem: str
) -> None:
    found = problems(record(points=recorded), applied)
    assert any(p.startswith(problem) for p in found), found


@pytest.mark.parametrize("applied", [{}, {"R-1:sale:points": ["txn-1"]}])
def test_unknown_is_honest_either_way_and_counted(applied: dict[str, list[str]]) -> None:
    check = check_truth({REF: record(points=item("UNKNOWN"))}, {REF: []}, applied)
    assert check.ok
    assert (check.unknown, check.unknown_applied) == (1, len(applied))


def test_an_effect_no_record_accounts_for_is_a_disagreement() -> None:
    found = problems(None, {" R-1:sale:points": ["txn-9"]})
    assert found == ["the vendor applied an effect no order's record accounts for"]


def test_the_last_event_must_list_the_records_statuses() -> None:
    rec = record(points=item("SUBMITTED", "txn-1"), **{"voucher#V-1": item("ERROR")})
    applied = {"R-1:sale:points": ["txn-1"]}
    early = ended("order.failed", points="PENDING", **{"voucher#V-1": "ERROR"})
    assert problems(rec, applied, early) == ["order.failed said PENDING, the record says SUBMITTED"]
    right = ended("order.failed", points="SUBMITTED", **{"voucher#V-1": "ERROR"})
    assert problems(rec, applied, early, right) == []  # the last one counts


def test_an_event_that_said_unknown_may_have_been_settled_since() -> None:
    rec = record(points=item("SUBMITTED", "txn-1"))
    parked = ended("order.needs-reconciliation", points="UNKNOWN")
    assert problems(rec, {"R-1:sale:points": ["txn-1"]}, parked) == []


def test_completed_means_every_item_applied_and_rejected_means_none() -> None:
    rec = record(points=item("ERROR"))
    assert problems(rec, {}, ended("order.completed")) == [
        "order.completed, but items were not applied"
    ]
    applied_rec = record(points=item("SUBMITTED", "txn-1"))
    assert problems(applied_rec, {"R-1:sale:points": ["txn-1"]}, ended("order.rejected")) == [
        "order.rejected, but items were applied"
    ]

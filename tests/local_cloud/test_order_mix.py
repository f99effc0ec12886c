"""Generated orders (``--orders/--mix/--seed``), their expected vendor effects, and the per-order
attribution of Lambda invocations."""

from __future__ import annotations

import json
from collections import Counter
from decimal import Decimal

import pytest

from local_cloud.run.order_mix import (
    DEFAULT_MIX,
    KINDS,
    expected_effects,
    generate_orders,
    parse_mix,
)
from local_cloud.runtime.accounting import order_references


def test_the_same_seed_gives_the_same_orders_and_another_seed_others() -> None:
    first = generate_orders(30, DEFAULT_MIX, seed=7)
    assert first == generate_orders(30, DEFAULT_MIX, seed=7)
    assert [s.order for s in first] != [s.order for s in generate_orders(30, DEFAULT_MIX, seed=8)]
    assert len({s.reference for s in first}) == 30


def test_every_kind_with_a_weight_appears_and_weights_shape_the_mix() -> None:
    samples = generate_orders(400, "sale=3,return=1,invalid=0", seed=1)
    kinds = Counter(s.description for s in samples)
    assert set(kinds) == {"sale", "return"}
    assert 2.4 < kinds["sale"] / kinds["return"] < 3.8
    assert {s.description for s in generate_orders(len(KINDS), DEFAULT_MIX)} == {
        KINDS[k](_maker()).description for k in KINDS
    }


def _maker() -> object:
    import random

    from local_cloud.run.order_mix import _Maker

    return _Maker(random.Random(0), "X")


@pytest.mark.parametrize(
    ("mix", "message"),
    [
        ("sale=1,refund=1", "unknown order kind 'refund'"),
        ("sale=-1", "must be >= 0"),
        ("sale=0", "no kind with a positive weight"),
        ("sale=one", "must be a whole number"),
    ],
)
def test_a_bad_mix_is_refused_with_the_reason(mix: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_mix(mix)


def test_expected_effects_follow_the_domain_rules() -> None:
    order = {
        "order_reference": "R-1",
        "loyalty_reference": "M",
        "merchant_reference": "S",
        "order_type": "sale",
        "currency": "GBP",
        "lines": [
            {"sku": "A", "quantity": 2, "unit_price": "10.99"},
            {"sku": "B", "quantity": 1, "unit_price": "5.50"},
        ],
        "discount": "2.75",
        "vouchers": [{"voucher_code": "V-2"}, {"voucher_code": "V-1"}],
        "rewards": [{"reward_code": "R"}],
    }
    effects = expected_effects(order, Decimal("1"))
    # 27.48 gross, 2.75 discount shared 21.98 : 5.50 → 19.78 and 4.95: 19 + 4 points
    assert (effects.operation, effects.points) == ("credit", 23)
    assert (effects.vouchers, effects.rewards) == (("V-1", "V-2"), ("R",))
    a_return = {
        **order,
        "order_type": "return",
        "original_order_reference": "R-0",
        "vouchers": [],
        "rewards": [],
    }
    assert expected_effects(a_return, Decimal("1")).operation == "deduct"


def test_invocations_are_attributed_to_the_orders_their_events_name() -> None:
    step_request = {"detail-type": "order.store", "detail": {"order_reference": "A"}}
    vendor_answer = {"detail": {"data": {"loyalty_order_reference": "B"}}}
    batch = {"Records": [{"body": json.dumps(step_request)}, {"body": json.dumps(vendor_answer)}]}
    api_read = {"httpMethod": "GET", "pathParameters": {"reference": "C"}}
    api_post = {"httpMethod": "POST", "body": json.dumps({"order_reference": "D"})}

    assert order_references(step_request) == ["A"]
    assert order_references(vendor_answer) == ["B"]
    assert order_references(batch) == ["A", "B"]
    assert order_references(api_read) == ["C"]
    assert order_references(api_post) == ["D"]
    assert order_references({"detail": "not an object"}) == []
    assert order_references({"httpMethod": "POST", "body": "not json"}) == []


def test_generated_orders_wait_for_a_person_only_when_their_kind_says_so() -> None:
    from local_cloud.run.order_mix import expected_effects as effects

    threshold = Decimal("500.00")  # cdk.json's loyalty:approvalReturnThreshold
    for sample in generate_orders(2000, DEFAULT_MIX, seed=3):
        if sample.expected_status != "COMPLETED" or sample.order["order_type"] != "return":
            continue
        net = sum(Decimal(line["unit_price"]) * line["quantity"] for line in sample.order["lines"])
        assert (net > threshold) == (sample.decision is not None), sample
        assert effects(sample.order, Decimal("1")).operation == "deduct"

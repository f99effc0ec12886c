"""Behaviour of the fake loyalty vendor that the local cloud puts behind the Vendor Mediator.

Every test talks to a real server on 127.0.0.1 (ephemeral port) over HTTP with short timeouts,
so what is asserted here is what the mediator will see.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
import urllib3

from fake_vendor import FakeVendor, FaultProfile
from tests.connections import SYN_RETRY_SECONDS, connect_burst

API_KEY = "test-vendor-key"
ACCOUNT = "member-1"
VOUCHER = "VOUCHER-10OFF"
REWARD = "REWARD-FREE-COFFEE"
TIMEOUT = urllib3.Timeout(connect=1.0, read=3.0)

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def vendor() -> Iterator[FakeVendor]:
    fake = FakeVendor(api_key=API_KEY)
    fake.add_account(ACCOUNT, balance=100)
    fake.add_voucher(VOUCHER)
    fake.add_reward(REWARD)
    with fake:
        yield fake


@pytest.fixture
def http() -> Iterator[urllib3.PoolManager]:
    # retries=False: the tests assert what the vendor answers, not what urllib3 makes of it.
    pool = urllib3.PoolManager(timeout=TIMEOUT, retries=False)
    yield pool
    pool.clear()


def call(
    http: urllib3.PoolManager,
    vendor: FakeVendor,
    method: str,
    path: str,
    body: dict[str, Any] | bytes | None = None,
    *,
    key: str | None = None,
    api_key: str | None = API_KEY,
    timeout: urllib3.Timeout = TIMEOUT,
) -> urllib3.BaseHTTPResponse:
    headers = {"Content-Type": "application/json"}
    if api_key is not None:
        headers["x-api-key"] = api_key
    if key is not None:
        headers["Idempotency-Key"] = key
    raw = json.dumps(body).encode() if isinstance(body, dict) else body
    return http.request(method, vendor.base_url + path, body=raw, headers=headers, timeout=timeout)


def credit(points: int = 50, order: str = "order-1") -> dict[str, Any]:
    return {
        "operation": "credit",
        "points": points,
        "order_reference": order,
        "merchant_reference": "store-7",
    }


def error_code(response: urllib3.BaseHTTPResponse) -> str:
    return str(response.json()["error"]["code"])


POINTS = f"/v1/accounts/{ACCOUNT}/points"
VOUCHER_REDEMPTIONS = f"/v1/vouchers/{VOUCHER}/redemptions"
VOUCHER_REVERSALS = f"/v1/vouchers/{VOUCHER}/reversals"
ORDER_1 = {"account": ACCOUNT, "order_reference": "order-1"}


def lookup(
    http: urllib3.PoolManager, vendor: FakeVendor, key: str, **kwargs: Any
) -> urllib3.BaseHTTPResponse:
    return call(http, vendor, "GET", f"/v1/idempotency-keys/{quote(key, safe='')}", **kwargs)


def test_health_needs_no_api_key(vendor: FakeVendor, http: urllib3.PoolManager) -> None:
    response = call(http, vendor, "GET", "/health", api_key=None)

    assert response.status == 200
    assert response.json() == {"status": "ok"}


def test_missing_or_wrong_api_key_is_401(vendor: FakeVendor, http: urllib3.PoolManager) -> None:
    missing = call(http, vendor, "GET", f"/v1/accounts/{ACCOUNT}", api_key=None)
    wrong = call(http, vendor, "GET", f"/v1/accounts/{ACCOUNT}", api_key="nope")

    assert (missing.status, error_code(missing)) == (401, "unauthorized")
    assert (wrong.status, error_code(wrong)) == (401, "unauthorized")


def test_credit_then_balance(vendor: FakeVendor, http: urllib3.PoolManager) -> None:
    created = call(http, vendor, "POST", POINTS, credit(50), key="k-credit")
    read = call(http, vendor, "GET", f"/v1/accounts/{ACCOUNT}")

    assert created.status == 201
    body = created.json()
    assert body["transaction_id"].startswith("txn_")
    assert {k: body[k] for k in ("account", "operation", "points", "balance")} == {
        "account": ACCOUNT,
        "operation": "credit",
        "points": 50,
        "balance": 150,
    }
    assert read.status == 200
    assert read.json() == {"account": ACCOUNT, "balance": 150}
    assert vendor.balance(ACCOUNT) == 150
    [entry] = vendor.ledger()
    assert (entry.operation, entry.points, entry.order_reference) == ("credit", 50, "order-1")
    assert entry.idempotency_key == "k-credit"


def test_unknown_account_is_404(vendor: FakeVendor, http: urllib3.PoolManager) -> None:
    response = call(http, vendor, "GET", "/v1/accounts/ghost")

    assert (response.status, error_code(response)) == (404, "account_not_found")


def test_deduct_beyond_balance_is_422_without_effect(
    vendor: FakeVendor, http: urllib3.PoolManager
) -> None:
    body = {**credit(500), "operation": "deduct"}

    response = call(http, vendor, "POST", POINTS, body, key="k-deduct")

    assert (response.status, error_code(response)) == (422, "insufficient_points")
    assert vendor.balance(ACCOUNT) == 100
    assert vendor.ledger() == []


def test_voucher_redeemed_once_then_409_for_another_key(
    vendor: FakeVendor, http: urllib3.PoolManager
) -> None:
    path = f"/v1/vouchers/{VOUCHER}/redemptions"
    body = {"account": ACCOUNT, "order_reference": "order-1"}

    first = call(http, vendor, "POST", path, body, key="k-v1")
    second = call(http, vendor, "POST", path, body, key="k-v2")

    assert first.status == 201
    assert first.json()["voucher_code"] == VOUCHER
    assert first.json()["account"] == ACCOUNT
    assert (second.status, error_code(second)) == (409, "voucher_already_redeemed")
    [redemption] = vendor.redemptions()
    assert (redemption.kind, redemption.code) == ("voucher", VOUCHER)
    assert redemption.redemption_id == first.json()["redemption_id"]


def test_reward_redemption_and_unknown_reward(
    vendor: FakeVendor, http: urllib3.PoolManager
) -> None:
    body = {"account": ACCOUNT, "order_reference": "order-1"}

    redeemed = call(http, vendor, "POST", f"/v1/rewards/{REWARD}/redemptions", body, key="k-r1")
    unknown = call(http, vendor, "POST", "/v1/rewards/NOPE/redemptions", body, key="k-r2")

    assert redeemed.status == 201
    assert redeemed.json()["reward_code"] == REWARD
    assert (unknown.status, error_code(unknown)) == (404, "reward_not_found")


@pytest.mark.parametrize(("kind", "code"), [("voucher", VOUCHER), ("reward", REWARD)])
def test_a_reversal_unredeems_the_code_so_it_can_be_redeemed_again(
    vendor: FakeVendor, http: urllib3.PoolManager, kind: str, code: str
) -> None:
    redemptions, reversals = f"/v1/{kind}s/{code}/redemptions", f"/v1/{kind}s/{code}/reversals"

    redeemed = call(http, vendor, "POST", redemptions, ORDER_1, key="k-redeem")
    reversed_ = call(http, vendor, "POST", reversals, ORDER_1, key="k-reverse")
    again = call(http, vendor, "POST", redemptions, ORDER_1, key="k-redeem-again")

    assert (redeemed.status, reversed_.status, again.status) == (201, 201, 201)
    first_id, body = redeemed.json()["redemption_id"], reversed_.json()
    assert body["reversal_id"].startswith("rev_")
    assert body == {
        "reversal_id": body["reversal_id"],
        "redemption_id": first_id,
        f"{kind}_code": code,
        "account": ACCOUNT,
    }
    [reversal] = vendor.reversals()
    assert (reversal.reversal_id, reversal.redemption_id) == (body["reversal_id"], first_id)
    assert (reversal.kind, reversal.code, reversal.account, reversal.order_reference) == (
        kind,
        code,
        ACCOUNT,
        "order-1",
    )
    assert reversal.idempotency_key == "k-reverse"
    assert reversal.at > 0
    # The history keeps both redemptions; only the second one is still in effect.
    first, second = vendor.redemptions()
    assert (first.redemption_id, first.reversal_id, first.reversed) == (
        first_id,
        reversal.reversal_id,
        True,
    )
    assert (second.redemption_id, second.reversal_id, second.reversed) == (
        again.json()["redemption_id"],
        None,
        False,
    )
    assert vendor.active_redemptions() == [second]
    assert vendor.stats().by_endpoint[f"POST /v1/{kind}s/{{code}}/reversals"] == 1


def test_a_replayed_reversal_returns_the_same_reversal_and_does_not_reverse_twice(
    vendor: FakeVendor, http: urllib3.PoolManager
) -> None:
    call(http, vendor, "POST", VOUCHER_REDEMPTIONS, ORDER_1, key="k-redeem")
    first = call(http, vendor, "POST", VOUCHER_REVERSALS, ORDER_1, key="k-reverse")
    again = call(http, vendor, "POST", VOUCHER_REDEMPTIONS, ORDER_1, key="k-redeem-again")

    replay = call(http, vendor, "POST", VOUCHER_REVERSALS, ORDER_1, key="k-reverse")

    assert (first.status, again.status, replay.status) == (201, 201, 201)
    assert replay.data == first.data
    assert first.headers.get("Idempotent-Replayed") is None
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert len(vendor.reversals()) == 1
    # The redemption made after the reversal is untouched: the code is still taken.
    assert [r.redemption_id for r in vendor.active_redemptions()] == [again.json()["redemption_id"]]
    taken = call(http, vendor, "POST", VOUCHER_REDEMPTIONS, ORDER_1, key="k-redeem-third")
    assert (taken.status, error_code(taken)) == (409, "voucher_already_redeemed")


def test_a_second_reversal_with_a_new_key_is_409_and_stored(
    vendor: FakeVendor, http: urllib3.PoolManager
) -> None:
    call(http, vendor, "POST", VOUCHER_REDEMPTIONS, ORDER_1, key="k-redeem")
    call(http, vendor, "POST", VOUCHER_REVERSALS, ORDER_1, key="k-reverse")

    second = call(http, vendor, "POST", VOUCHER_REVERSALS, ORDER_1, key="k-reverse-2")
    replay = call(http, vendor, "POST", VOUCHER_REVERSALS, ORDER_1, key="k-reverse-2")

    assert (second.status, error_code(second)) == (409, "voucher_not_redeemed")
    assert VOUCHER in second.json()["error"]["message"]
    assert (replay.status, replay.data) == (409, second.data)
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert len(vendor.reversals()) == 1
    assert vendor.active_redemptions() == []


@pytest.mark.parametrize(
    ("path", "body", "code"),
    [
        ("/v1/vouchers/NOPE/reversals", ORDER_1, "voucher_not_found"),
        ("/v1/rewards/NOPE/reversals", ORDER_1, "reward_not_found"),
        (VOUCHER_REVERSALS, {**ORDER_1, "account": "ghost"}, "account_not_found"),
    ],
)
def test_a_reversal_of_an_unknown_code_or_account_is_404_without_effect(
    vendor: FakeVendor, http: urllib3.PoolManager, path: str, body: dict[str, Any], code: str
) -> None:
    call(http, vendor, "POST", VOUCHER_REDEMPTIONS, ORDER_1, key="k-redeem")

    response = call(http, vendor, "POST", path, body, key="k-reverse")

    assert (response.status, error_code(response)) == (404, code)
    assert vendor.reversals() == []
    assert len(vendor.active_redemptions()) == 1


@pytest.mark.parametrize(
    ("redeemer", "reverser"),
    [
        (None, ORDER_1),  # never redeemed
        ({**ORDER_1, "order_reference": "order-2"}, ORDER_1),  # redeemed for another order
        ({"account": "member-2", "order_reference": "order-1"}, ORDER_1),  # by another member
    ],
)
def test_only_the_redeeming_account_and_order_can_reverse_a_redemption(
    vendor: FakeVendor,
    http: urllib3.PoolManager,
    redeemer: dict[str, Any] | None,
    reverser: dict[str, Any],
) -> None:
    vendor.add_account("member-2")
    if redeemer is not None:
        assert call(http, vendor, "POST", VOUCHER_REDEMPTIONS, redeemer, key="k-r").status == 201

    response = call(http, vendor, "POST", VOUCHER_REVERSALS, reverser, key="k-reverse")

    assert (response.status, error_code(response)) == (409, "voucher_not_redeemed")
    # The refusal does not say who holds the code.
    assert "member-2" not in response.json()["error"]["message"]
    assert vendor.reversals() == []
    assert len(vendor.active_redemptions()) == (0 if redeemer is None else 1)


@pytest.mark.parametrize(
    ("body", "key", "code"),
    [
        ({**ORDER_1, "reason": "order failed"}, "k-reverse", "invalid_request"),
        ({"account": ACCOUNT}, "k-reverse", "invalid_request"),
        ({**ORDER_1, "account": 7}, "k-reverse", "invalid_request"),
        (ORDER_1, None, "idempotency_key_required"),
    ],
)
def test_a_malformed_reversal_is_400_and_not_stored(
    vendor: FakeVendor,
    http: urllib3.PoolManager,
    body: dict[str, Any],
    key: str | None,
    code: str,
) -> None:
    call(http, vendor, "POST", VOUCHER_REDEMPTIONS, ORDER_1, key="k-redeem")

    response = call(http, vendor, "POST", VOUCHER_REVERSALS, body, key=key)

    assert (response.status, error_code(response)) == (400, code)
    assert vendor.reversals() == []
    # Not stored: the key is still free for the corrected request.
    corrected = call(http, vendor, "POST", VOUCHER_REVERSALS, ORDER_1, key="k-reverse")
    assert corrected.status == 201
    assert corrected.headers.get("Idempotent-Replayed") is None


def test_a_redemptions_key_cannot_be_reused_for_its_reversal(
    vendor: FakeVendor, http: urllib3.PoolManager
) -> None:
    call(http, vendor, "POST", VOUCHER_REDEMPTIONS, ORDER_1, key="k-same")

    response = call(http, vendor, "POST", VOUCHER_REVERSALS, ORDER_1, key="k-same")

    assert (response.status, error_code(response)) == (422, "idempotency_key_reused")
    assert vendor.reversals() == []
    assert len(vendor.active_redemptions()) == 1


REFUSED_BEFORE_ANY_EFFECT = [
    ({"error_rate": 1.0}, 503, "error"),
    ({"outages": [(0.0, 30.0)]}, 503, "outage"),
    ({"throttle_rate": 1.0}, 429, "throttle"),
    ({"rate_limit_rps": 0.01}, 429, "rate_limit"),
]
"""The faults answered 429 or 503 before any processing: (knobs, status, counted as)."""


@pytest.mark.parametrize(("knobs", "status", "fault"), REFUSED_BEFORE_ANY_EFFECT)
def test_a_reversal_refused_with_429_or_503_reverses_nothing(
    vendor: FakeVendor,
    http: urllib3.PoolManager,
    knobs: dict[str, Any],
    status: int,
    fault: str,
) -> None:
    call(http, vendor, "POST", VOUCHER_REDEMPTIONS, ORDER_1, key="k-redeem")
    vendor.faults = FaultProfile(**knobs, lost_response_rate=1.0, malformed_success_rate=1.0)
    if fault == "rate_limit":
        assert call(http, vendor, "GET", f"/v1/accounts/{ACCOUNT}").status == 200  # the one token

    refused = call(http, vendor, "POST", VOUCHER_REVERSALS, ORDER_1, key="k-reverse")

    assert refused.status == status
    assert vendor.reversals() == []
    assert len(vendor.active_redemptions()) == 1
    assert vendor.stats().faults_injected[fault] == 1
    vendor.faults = FaultProfile()
    assert lookup(http, vendor, "k-reverse").status == 404
    # Nothing was stored, so the same key now takes effect for the first time.
    retried = call(http, vendor, "POST", VOUCHER_REVERSALS, ORDER_1, key="k-reverse")
    assert retried.status == 201
    assert retried.headers.get("Idempotent-Replayed") is None
    assert vendor.active_redemptions() == []


def test_a_reversal_whose_answer_is_lost_took_effect_and_a_retry_replays_it(
    vendor: FakeVendor, http: urllib3.PoolManager
) -> None:
    call(http, vendor, "POST", VOUCHER_REDEMPTIONS, ORDER_1, key="k-redeem")
    vendor.faults = FaultProfile(lost_response_rate=1.0)

    lost = call(http, vendor, "POST", VOUCHER_REVERSALS, ORDER_1, key="k-reverse")
    vendor.faults = FaultProfile()
    retry = call(http, vendor, "POST", VOUCHER_REVERSALS, ORDER_1, key="k-reverse")

    assert lost.status == 502
    [reversal] = vendor.reversals()
    assert retry.status == 201
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert retry.json()["reversal_id"] == reversal.reversal_id
    assert vendor.active_redemptions() == []


def test_same_key_and_body_replays_without_new_effect(
    vendor: FakeVendor, http: urllib3.PoolManager
) -> None:
    first = call(http, vendor, "POST", POINTS, credit(50), key="k-replay")
    second = call(http, vendor, "POST", POINTS, credit(50), key="k-replay")

    assert first.status == second.status == 201
    assert second.data == first.data
    assert first.headers.get("Idempotent-Replayed") is None
    assert second.headers["Idempotent-Replayed"] == "true"
    assert len(vendor.ledger()) == 1
    assert vendor.balance(ACCOUNT) == 150
    assert vendor.stats().idempotent_replays == 1


def test_same_key_with_different_body_is_422(vendor: FakeVendor, http: urllib3.PoolManager) -> None:
    call(http, vendor, "POST", POINTS, credit(50), key="k-reuse")

    reused = call(http, vendor, "POST", POINTS, credit(60), key="k-reuse")

    assert (reused.status, error_code(reused)) == (422, "idempotency_key_reused")
    assert len(vendor.ledger()) == 1


def test_post_without_idempotency_key_is_400(vendor: FakeVendor, http: urllib3.PoolManager) -> None:
    response = call(http, vendor, "POST", POINTS, credit(50))

    assert (response.status, error_code(response)) == (400, "idempotency_key_required")
    assert vendor.ledger() == []


def test_malformed_json_is_400_naming_the_problem(
    vendor: FakeVendor, http: urllib3.PoolManager
) -> None:
    response = call(http, vendor, "POST", POINTS, b'{"operation": "credit",', key="k-bad")

    assert (response.status, error_code(response)) == (400, "invalid_request")
    assert "not valid JSON" in response.json()["error"]["message"]


def test_wrong_typed_field_is_400_naming_the_field(
    vendor: FakeVendor, http: urllib3.PoolManager
) -> None:
    response = call(http, vendor, "POST", POINTS, {**credit(), "points": "50"}, key="k-type")

    assert (response.status, error_code(response)) == (400, "invalid_request")
    assert "'points'" in response.json()["error"]["message"]


def test_unknown_path_is_404_and_wrong_method_is_405(
    vendor: FakeVendor, http: urllib3.PoolManager
) -> None:
    unknown = call(http, vendor, "GET", "/v1/nothing-here")
    wrong_method = call(http, vendor, "DELETE", f"/v1/accounts/{ACCOUNT}")

    assert (unknown.status, error_code(unknown)) == (404, "not_found")
    assert (wrong_method.status, error_code(wrong_method)) == (405, "method_not_allowed")
    assert wrong_method.headers["Allow"] == "GET"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/health/"),  # no redirect to the path without the slash: not a path at all
        ("GET", f"/v1//accounts/{ACCOUNT}"),
        ("GET", f"/v1/accounts/{ACCOUNT}//"),
        ("GET", "/v1/accounts/a/b"),
        ("POST", "/v1/vouchers/redemptions"),
    ],
)
def test_only_exact_paths_are_endpoints(
    vendor: FakeVendor, http: urllib3.PoolManager, method: str, path: str
) -> None:
    answer = call(http, vendor, method, path, credit() if method == "POST" else None, key="k")
    assert (answer.status, error_code(answer)) == (404, "not_found")


def test_a_get_on_a_post_endpoint_names_post_in_allow(
    vendor: FakeVendor, http: urllib3.PoolManager
) -> None:
    answer = call(http, vendor, "GET", POINTS)
    assert (answer.status, answer.headers["Allow"]) == (405, "POST")
    assert vendor.stats().by_endpoint == {"unmatched": 1}


def test_path_parameters_are_unescaped_after_matching(
    vendor: FakeVendor, http: urllib3.PoolManager
) -> None:
    key = "order/1#points"  # an escaped slash stays inside its parameter
    stored = call(http, vendor, "POST", POINTS, credit(5), key=key)
    found = lookup(http, vendor, key)
    assert stored.status == 201
    assert (found.status, found.json()["idempotency_key"]) == (200, key)
    assert vendor.stats().by_endpoint["GET /v1/idempotency-keys/{key}"] == 1


def test_lost_response_applies_effect_and_retry_replays_it(
    vendor: FakeVendor, http: urllib3.PoolManager
) -> None:
    vendor.faults = FaultProfile(lost_response_rate=1.0)

    lost = call(http, vendor, "POST", POINTS, credit(50), key="k-lost")
    ledger_after_loss = vendor.ledger()
    retry = call(http, vendor, "POST", POINTS, credit(50), key="k-lost")

    assert lost.status == 502
    assert len(ledger_after_loss) == 1
    assert retry.status == 201
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert retry.json()["transaction_id"] == ledger_after_loss[0].transaction_id
    assert len(vendor.ledger()) == 1
    assert vendor.stats().faults_injected == {"lost_response": 1}


def test_error_rate_is_503_without_effect(vendor: FakeVendor, http: urllib3.PoolManager) -> None:
    vendor.faults = FaultProfile(error_rate=1.0)

    response = call(http, vendor, "POST", POINTS, credit(50), key="k-error")

    assert (response.status, error_code(response)) == (503, "unavailable")
    assert vendor.ledger() == []
    vendor.faults = FaultProfile()
    # The failed attempt was not stored, so the same key now takes effect for the first time.
    retry = call(http, vendor, "POST", POINTS, credit(50), key="k-error")
    assert retry.status == 201
    assert retry.headers.get("Idempotent-Replayed") is None


def test_throttle_is_429_with_retry_after(vendor: FakeVendor, http: urllib3.PoolManager) -> None:
    vendor.faults = FaultProfile(throttle_rate=1.0, retry_after_seconds=0.25)

    response = call(http, vendor, "GET", f"/v1/accounts/{ACCOUNT}")

    assert (response.status, error_code(response)) == (429, "rate_limited")
    assert response.headers["Retry-After"] == "0.25"


def test_rate_limit_rejects_a_burst_beyond_the_budget(
    vendor: FakeVendor, http: urllib3.PoolManager
) -> None:
    # 0.5 rps gives a burst of one token and a refill every 2 s: ten quick calls get one through.
    vendor.faults = FaultProfile(rate_limit_rps=0.5)

    statuses = [call(http, vendor, "GET", f"/v1/accounts/{ACCOUNT}").status for _ in range(10)]

    assert statuses[0] == 200
    assert statuses.count(429) >= 8
    assert set(statuses) <= {200, 429}
    assert vendor.stats().faults_injected["rate_limit"] == statuses.count(429)


def test_outage_window_is_503_then_recovers(vendor: FakeVendor, http: urllib3.PoolManager) -> None:
    applied = time.monotonic()
    vendor.faults = FaultProfile(outages=[(0.0, 0.3)])

    during = call(http, vendor, "POST", POINTS, credit(50), key="k-outage")
    time.sleep(max(0.0, applied + 0.3 - time.monotonic()) + 0.05)
    after = call(http, vendor, "POST", POINTS, credit(50), key="k-outage")

    assert (during.status, error_code(during)) == (503, "vendor_unavailable")
    assert 0 < float(during.headers["Retry-After"]) <= 0.3
    assert after.status == 201
    assert len(vendor.ledger()) == 1


def test_an_outage_can_follow_the_nth_applied_effect_whose_answer_was_lost(
    vendor: FakeVendor, http: urllib3.PoolManager
) -> None:
    # Every answer is lost; the second *applied* effect takes the vendor down for 0.5 s. A
    # refusal whose answer is lost, or a read, applied nothing and does not count.
    vendor.faults = FaultProfile(
        lost_response_rate=1.0, outage_after_lost=2, outage_after_lost_seconds=0.5
    )
    redeem = {"account": ACCOUNT, "order_reference": "order-1"}

    first = call(http, vendor, "POST", POINTS, credit(50), key="k-1")
    refused = call(http, vendor, "POST", "/v1/vouchers/NOPE/redemptions", redeem, key="k-no")
    read = call(http, vendor, "GET", f"/v1/accounts/{ACCOUNT}")
    second = call(http, vendor, "POST", POINTS, credit(50, "order-2"), key="k-2")
    took_down = time.monotonic()
    retried = call(http, vendor, "POST", POINTS, credit(50, "order-2"), key="k-2")
    time.sleep(max(0.0, took_down + 0.5 - time.monotonic()) + 0.05)
    after = call(http, vendor, "POST", POINTS, credit(50, "order-2"), key="k-2")

    assert [r.status for r in (first, refused, read, second)] == [502, 502, 200, 502]
    assert (retried.status, error_code(retried)) == (503, "vendor_unavailable")
    assert 0 < float(retried.headers["Retry-After"]) <= 0.5
    assert (after.status, after.headers["Idempotent-Replayed"]) == (201, "true")
    assert len(vendor.ledger()) == 2
    assert vendor.stats().faults_injected == {"lost_response": 3, "outage": 1}


def test_outage_after_lost_is_validated() -> None:
    with pytest.raises(ValueError, match="outage_after_lost_seconds"):
        FaultProfile(outage_after_lost=1)
    with pytest.raises(ValueError, match="outage_after_lost"):
        FaultProfile.from_dict({"outage_after_lost": 1.5, "outage_after_lost_seconds": 1})
    with pytest.raises(ValueError, match="outage_after_lost_seconds"):
        FaultProfile(outage_after_lost=1, outage_after_lost_seconds=-1)


def test_outage_offsets_count_from_when_the_profile_is_applied_not_parsed(
    vendor: FakeVendor, http: urllib3.PoolManager
) -> None:
    # A run parses its profile, then deploys for a while before the first order arrives.
    profile = FaultProfile.from_dict({"outages": [[0, 0.5]]})
    time.sleep(0.6)

    vendor.faults = profile
    during = call(http, vendor, "GET", f"/v1/accounts/{ACCOUNT}")

    assert (during.status, error_code(during)) == (503, "vendor_unavailable")
    assert 0 < float(during.headers["Retry-After"]) <= 0.5


def test_start_fault_clock_restarts_the_outage_offsets(
    vendor: FakeVendor, http: urllib3.PoolManager
) -> None:
    path = f"/v1/accounts/{ACCOUNT}"
    vendor.faults = FaultProfile(outages=[(0.3, 0.8)])
    before_window = call(http, vendor, "GET", path)
    time.sleep(0.85)
    after_window = call(http, vendor, "GET", path)

    vendor.start_fault_clock()
    right_after_restart = call(http, vendor, "GET", path)
    time.sleep(0.4)
    inside_restarted_window = call(http, vendor, "GET", path)

    assert (before_window.status, after_window.status, right_after_restart.status) == (
        200,
        200,
        200,
    )
    assert inside_restarted_window.status == 503
    assert 0 < float(inside_restarted_window.headers["Retry-After"]) <= 0.5
    assert vendor.stats().faults_injected == {"outage": 1}


def test_garbage_is_200_with_non_json_body_and_no_effect(
    vendor: FakeVendor, http: urllib3.PoolManager
) -> None:
    vendor.faults = FaultProfile(garbage_rate=1.0)

    response = call(http, vendor, "POST", POINTS, credit(50), key="k-garbage")

    assert response.status == 200
    with pytest.raises(ValueError):
        json.loads(response.data)
    assert vendor.ledger() == []


def test_malformed_success_is_the_2xx_without_its_id_after_the_effect(
    vendor: FakeVendor, http: urllib3.PoolManager
) -> None:
    vendor.faults = FaultProfile(malformed_success_rate=1.0)
    voucher = {"account": ACCOUNT, "order_reference": "order-1"}

    points = call(http, vendor, "POST", POINTS, credit(50), key="k-malformed-points")
    redeemed = call(http, vendor, "POST", VOUCHER_REDEMPTIONS, voucher, key="k-malformed-v")

    assert points.status == redeemed.status == 201
    assert points.json() == redeemed.json() == {"status": "accepted"}
    [entry] = vendor.ledger()
    [redemption] = vendor.redemptions()
    assert vendor.stats().faults_injected == {"malformed_success": 2}
    # The stored answer is the real one: a replay of the same key recovers it.
    points_again = call(http, vendor, "POST", POINTS, credit(50), key="k-malformed-points")
    redeemed_again = call(http, vendor, "POST", VOUCHER_REDEMPTIONS, voucher, key="k-malformed-v")
    assert points_again.status == redeemed_again.status == 201
    assert points_again.headers["Idempotent-Replayed"] == "true"
    assert points_again.json()["transaction_id"] == entry.transaction_id
    assert redeemed_again.headers["Idempotent-Replayed"] == "true"
    assert redeemed_again.json()["redemption_id"] == redemption.redemption_id
    assert len(vendor.ledger()) == len(vendor.redemptions()) == 1
    assert vendor.stats().faults_injected == {"malformed_success": 2}


def test_malformed_success_spares_errors_reads_replays_and_lost_answers(
    vendor: FakeVendor, http: urllib3.PoolManager
) -> None:
    stored = call(http, vendor, "POST", POINTS, credit(50), key="k-stored")
    vendor.faults = FaultProfile(malformed_success_rate=1.0)

    replay = call(http, vendor, "POST", POINTS, credit(50), key="k-stored")
    refused = call(http, vendor, "POST", POINTS, {**credit(500), "operation": "deduct"}, key="k-no")
    read = call(http, vendor, "GET", f"/v1/accounts/{ACCOUNT}")
    vendor.faults = FaultProfile(malformed_success_rate=1.0, lost_response_rate=1.0)
    lost = call(http, vendor, "POST", POINTS, credit(10), key="k-lost-wins")

    assert (replay.status, replay.data) == (201, stored.data)
    assert (refused.status, error_code(refused)) == (422, "insufficient_points")
    assert read.json() == {"account": ACCOUNT, "balance": 150}
    # Both knobs fired on the same answer: only the one the client saw is counted.
    assert lost.status == 502
    assert vendor.stats().faults_injected == {"lost_response": 1}


def test_hung_response_times_out_on_the_client(
    vendor: FakeVendor, http: urllib3.PoolManager
) -> None:
    vendor.faults = FaultProfile(timeout_rate=1.0, timeout_sleep_seconds=0.5)
    short = urllib3.Timeout(connect=1.0, read=0.1)

    with pytest.raises(urllib3.exceptions.ReadTimeoutError):
        call(http, vendor, "POST", POINTS, credit(50), key="k-timeout", timeout=short)

    # The vendor committed before hanging, as a real one can: the mediator must retry with the key.
    assert len(vendor.ledger()) == 1


def test_a_zero_second_hang_is_not_counted_as_a_timeout(
    vendor: FakeVendor, http: urllib3.PoolManager
) -> None:
    vendor.faults = FaultProfile(timeout_rate=1.0, timeout_sleep_seconds=0.0)

    response = call(http, vendor, "POST", POINTS, credit(50), key="k-no-hang")

    assert response.status == 201
    assert vendor.stats().faults_injected == {}


def test_latency_delays_the_answer(vendor: FakeVendor, http: urllib3.PoolManager) -> None:
    vendor.faults = FaultProfile(latency_ms=150.0)

    started = time.monotonic()
    response = call(http, vendor, "GET", f"/v1/accounts/{ACCOUNT}")

    assert response.status == 200
    assert time.monotonic() - started >= 0.15


def test_idempotency_key_lookup_returns_the_stored_answer_of_a_lost_response(
    vendor: FakeVendor, http: urllib3.PoolManager
) -> None:
    vendor.faults = FaultProfile(lost_response_rate=1.0)
    key = "order-1/points credit"  # a key with characters that must be escaped in a path
    lost = call(http, vendor, "POST", POINTS, credit(50), key=key)
    refused = call(http, vendor, "POST", POINTS, {**credit(500), "operation": "deduct"}, key="k-r")
    vendor.faults = FaultProfile()

    found = lookup(http, vendor, key)
    found_refusal = lookup(http, vendor, "k-r")

    assert (lost.status, refused.status) == (502, 502)
    [entry] = vendor.ledger()
    assert found.status == 200
    assert found.json() == {
        "idempotency_key": key,
        "status": 201,
        "response": {
            "transaction_id": entry.transaction_id,
            "account": ACCOUNT,
            "operation": "credit",
            "points": 50,
            "balance": 150,
        },
    }
    assert found_refusal.json()["status"] == 422
    assert found_refusal.json()["response"]["error"]["code"] == "insufficient_points"
    # A lookup reads; it is not a replay and applies nothing.
    stats = vendor.stats()
    assert stats.idempotent_replays == 0
    assert stats.by_endpoint["GET /v1/idempotency-keys/{key}"] == 2
    assert len(vendor.ledger()) == 1


def test_idempotency_key_lookup_is_404_for_a_key_never_processed(
    vendor: FakeVendor, http: urllib3.PoolManager
) -> None:
    call(http, vendor, "POST", POINTS, {**credit(), "points": "50"}, key="k-invalid")
    vendor.faults = FaultProfile(error_rate=1.0)
    call(http, vendor, "POST", POINTS, credit(50), key="k-503")
    vendor.faults = FaultProfile()

    for key in ("k-never-sent", "k-invalid", "k-503"):
        response = lookup(http, vendor, key)
        assert (response.status, error_code(response)) == (404, "idempotency_key_not_found"), key
        assert key in response.json()["error"]["message"]


def test_idempotency_key_lookup_needs_the_api_key(
    vendor: FakeVendor, http: urllib3.PoolManager
) -> None:
    call(http, vendor, "POST", POINTS, credit(50), key="k-private")

    response = lookup(http, vendor, "k-private", api_key=None)

    assert (response.status, error_code(response)) == (401, "unauthorized")


def test_idempotency_key_lookup_fails_like_any_v1_call_but_is_never_lost_or_malformed(
    vendor: FakeVendor, http: urllib3.PoolManager
) -> None:
    created = call(http, vendor, "POST", POINTS, credit(50), key="k-look")
    vendor.faults = FaultProfile(error_rate=1.0)
    unavailable = lookup(http, vendor, "k-look")
    vendor.faults = FaultProfile(lost_response_rate=1.0, malformed_success_rate=1.0)
    found = lookup(http, vendor, "k-look")

    assert (unavailable.status, error_code(unavailable)) == (503, "unavailable")
    assert found.status == 200
    assert found.json()["response"] == created.json()
    assert vendor.stats().faults_injected == {"error": 1}


@pytest.mark.parametrize(("knobs", "status", "fault"), REFUSED_BEFORE_ANY_EFFECT)
def test_429_and_503_are_answered_before_any_effect(
    vendor: FakeVendor,
    http: urllib3.PoolManager,
    knobs: dict[str, Any],
    status: int,
    fault: str,
) -> None:
    # Every post-effect knob is on as well: none of them may turn a refusal into an effect.
    vendor.faults = FaultProfile(
        **knobs,
        lost_response_rate=1.0,
        malformed_success_rate=1.0,
        timeout_rate=1.0,
        timeout_sleep_seconds=0.01,
    )
    if fault == "rate_limit":
        assert call(http, vendor, "GET", f"/v1/accounts/{ACCOUNT}").status == 200  # the one token
    voucher = {"account": ACCOUNT, "order_reference": "order-1"}

    points = call(http, vendor, "POST", POINTS, credit(50), key="k-refused-points")
    redeemed = call(http, vendor, "POST", VOUCHER_REDEMPTIONS, voucher, key="k-refused-v")

    assert (points.status, redeemed.status) == (status, status)
    assert (vendor.ledger(), vendor.redemptions(), vendor.balance(ACCOUNT)) == ([], [], 100)
    assert vendor.stats().faults_injected[fault] == 2
    vendor.faults = FaultProfile()
    assert lookup(http, vendor, "k-refused-points").status == 404
    assert lookup(http, vendor, "k-refused-v").status == 404
    # Nothing was stored, so the same keys now take effect for the first time.
    retried = call(http, vendor, "POST", POINTS, credit(50), key="k-refused-points")
    assert retried.status == 201
    assert retried.headers.get("Idempotent-Replayed") is None


def test_a_seeded_mix_of_every_fault_keeps_the_contract_and_counts_each_fault(
    vendor: FakeVendor, http: urllib3.PoolManager
) -> None:
    # The random knobs only: outages and the rate limit depend on timing, and the parametrized
    # test above covers them.
    vendor.faults = FaultProfile(
        error_rate=0.15,
        throttle_rate=0.15,
        garbage_rate=0.1,
        lost_response_rate=0.2,
        malformed_success_rate=0.2,
        seed=11,
    )
    statuses: dict[str, int] = {}
    bodies: dict[str, bytes] = {}
    for i in range(80):
        key = f"k-mix-{i}"
        response = call(http, vendor, "POST", POINTS, credit(1, order=key), key=key)
        statuses[key], bodies[key] = response.status, response.data

    applied = {entry.idempotency_key for entry in vendor.ledger()}
    refused = {key for key, status in statuses.items() if status in (429, 503)}
    assert applied, statuses
    assert refused, statuses
    assert not applied & refused
    # Every answer is either a refusal before the effect, or comes from the effect's key.
    assert applied == {key for key, status in statuses.items() if status in (201, 502)}
    malformed = [key for key in applied if bodies[key] == b'{"status":"accepted"}']
    by_status = vendor.stats().by_status
    faults = vendor.stats().faults_injected
    assert set(faults) == {"error", "throttle", "garbage", "lost_response", "malformed_success"}
    assert by_status[503] == faults["error"]
    assert by_status[429] == faults["throttle"]
    assert by_status[502] == faults["lost_response"]
    assert by_status[200] == faults["garbage"]
    assert len(malformed) == faults["malformed_success"]


def test_admin_faults_and_stats_over_http(vendor: FakeVendor, http: urllib3.PoolManager) -> None:
    configured = call(http, vendor, "POST", "/_admin/faults", {"outages": [[0, 0.5]]})
    during = call(http, vendor, "GET", f"/v1/accounts/{ACCOUNT}")
    stats = call(http, vendor, "GET", "/_admin/stats")

    assert configured.status == 204
    assert during.status == 503
    assert stats.status == 200
    assert stats.json() == {
        "requests_total": 1,
        "by_status": {"503": 1},
        "by_endpoint": {"GET /v1/accounts/{account}": 1},
        "idempotent_replays": 0,
        "faults_injected": {"outage": 1},
    }


def test_admin_puts_right_a_code_the_vendor_did_not_know(
    vendor: FakeVendor, http: urllib3.PoolManager
) -> None:
    body = {"account": ACCOUNT, "order_reference": "O-1"}
    refused = call(http, vendor, "POST", "/v1/vouchers/LATE-1/redemptions", body, key="k-1")
    added = [call(http, vendor, "PUT", "/_admin/vouchers/LATE-1") for _ in range(2)]
    redeemed = call(http, vendor, "POST", "/v1/vouchers/LATE-1/redemptions", body, key="k-2")
    reward = call(http, vendor, "PUT", "/_admin/rewards/LATE-2")
    rewarded = call(http, vendor, "POST", "/v1/rewards/LATE-2/redemptions", body, key="k-3")

    assert (refused.status, error_code(refused)) == (404, "voucher_not_found")
    assert [a.status for a in added] == [204, 204]  # PUT: known already is no change
    assert redeemed.status == 201
    assert reward.status == 204
    assert rewarded.status == 201


def test_admin_faults_rejects_unknown_keys(vendor: FakeVendor, http: urllib3.PoolManager) -> None:
    response = call(http, vendor, "POST", "/_admin/faults", {"error_rte": 1.0})

    assert (response.status, error_code(response)) == (400, "invalid_request")
    assert "error_rte" in response.json()["error"]["message"]
    assert vendor.faults == FaultProfile()


def test_from_dict_rejects_unknown_keys() -> None:
    with pytest.raises(ValueError, match="error_rte"):
        FaultProfile.from_dict({"error_rte": 0.5, "latency_ms": 10})


def test_from_dict_keeps_outages_as_offsets() -> None:
    profile = FaultProfile.from_dict(
        {"error_rate": 0.5, "malformed_success_rate": 0.1, "outages": [[1, 2.5]], "seed": 7}
    )

    assert profile.error_rate == 0.5
    assert profile.malformed_success_rate == 0.1
    assert profile.seed == 7
    assert profile.outages == [(1.0, 2.5)]


def test_fault_profile_rejects_out_of_range_values() -> None:
    with pytest.raises(ValueError, match="error_rate"):
        FaultProfile(error_rate=1.5)
    with pytest.raises(ValueError, match="malformed_success_rate"):
        FaultProfile(malformed_success_rate=-0.1)
    with pytest.raises(ValueError, match="malformed_success_rate"):
        FaultProfile.from_dict({"malformed_success_rate": True})


@pytest.mark.parametrize(
    "outages",
    [
        [[-1, 2]],
        [[2, 1]],
        [[1, 1]],
        [[0, math.inf]],
        [[math.nan, 1]],
        [["0", 1]],
        [[True, 2]],
        [[0]],
        [[0, 1, 2]],
        "0-1",
    ],
)
def test_fault_profile_rejects_bad_outages(outages: Any) -> None:
    with pytest.raises(ValueError, match="outages"):
        FaultProfile(outages=outages)
    with pytest.raises(ValueError, match="outages"):
        FaultProfile.from_dict({"outages": outages})


def test_named_presets() -> None:
    assert FaultProfile.named("healthy") == FaultProfile()
    flaky = FaultProfile.named("flaky")
    assert (flaky.error_rate, flaky.lost_response_rate) == (0.2, 0.05)
    assert (flaky.latency_ms, flaky.latency_jitter_ms) == (20.0, 20.0)
    throttled = FaultProfile.named("throttled")
    assert (throttled.rate_limit_rps, throttled.retry_after_seconds) == (5.0, 0.2)
    assert FaultProfile.named("outage").outages == [(0.0, 3.0)]
    assert FaultProfile.named("slow").latency_ms == 200.0
    with pytest.raises(ValueError, match="flaky"):
        FaultProfile.named("chaos")


def test_seeded_profiles_draw_the_same_faults(
    vendor: FakeVendor, http: urllib3.PoolManager
) -> None:
    def run() -> list[int]:
        vendor.faults = FaultProfile(error_rate=0.5, seed=42)
        return [call(http, vendor, "GET", f"/v1/accounts/{ACCOUNT}").status for _ in range(12)]

    first, second = run(), run()

    assert first == second
    assert set(first) == {200, 503}


def test_reset_clears_state_and_faults(vendor: FakeVendor, http: urllib3.PoolManager) -> None:
    call(http, vendor, "POST", POINTS, credit(50), key="k-before-reset")
    call(http, vendor, "POST", VOUCHER_REDEMPTIONS, ORDER_1, key="k-redeem-before-reset")
    call(http, vendor, "POST", VOUCHER_REVERSALS, ORDER_1, key="k-reverse-before-reset")
    assert len(vendor.reversals()) == 1
    vendor.faults = FaultProfile(error_rate=1.0)

    vendor.reset()

    assert vendor.faults == FaultProfile()
    assert vendor.ledger() == []
    assert vendor.redemptions() == []
    assert vendor.reversals() == []
    with pytest.raises(KeyError):
        vendor.balance(ACCOUNT)
    stats = vendor.stats()
    assert (stats.requests_total, stats.by_status, stats.faults_injected) == (0, {}, {})
    # The idempotency store is gone too: the old key takes effect afresh on a re-seeded account.
    vendor.add_account(ACCOUNT, balance=0)
    again = call(http, vendor, "POST", POINTS, credit(50), key="k-before-reset")
    assert again.status == 201
    assert again.headers.get("Idempotent-Replayed") is None


def test_stop_is_prompt_with_a_hung_request_in_flight(http: urllib3.PoolManager) -> None:
    fake = FakeVendor(api_key=API_KEY, faults=FaultProfile(timeout_rate=1.0))
    fake.add_account(ACCOUNT)
    fake.start()
    try:
        with pytest.raises(urllib3.exceptions.ReadTimeoutError):
            call(
                http,
                fake,
                "GET",
                f"/v1/accounts/{ACCOUNT}",
                timeout=urllib3.Timeout(connect=1.0, read=0.1),
            )
    finally:
        started = time.monotonic()
        fake.stop()
    # The handler was asleep for timeout_sleep_seconds (5 s); stop() must wake it, not wait.
    assert time.monotonic() - started < 2.0
    assert not [t for t in threading.enumerate() if t.name.startswith("fake-vendor")]


def test_only_loopback_hosts_are_accepted() -> None:
    with pytest.raises(ValueError, match="loopback"):
        FakeVendor(host="0.0.0.0")


def test_a_burst_of_connections_is_accepted_without_a_syn_retry(vendor: FakeVendor) -> None:
    # A listen backlog of 5 (http.server's default) dropped connections of a burst; their clients
    # tried again a second later (TCP's SYN retry), past the mediator's connect timeout, which the
    # mediator rightly took for a vendor outage. A SaaS endpoint does not refuse a burst of 100.
    took = connect_burst(vendor.base_url)
    assert len(took) == 100
    assert max(took) < SYN_RETRY_SECONDS - 0.1


def test_a_fault_clock_armed_for_the_next_request_starts_there(
    vendor: FakeVendor, http: urllib3.PoolManager
) -> None:
    path = f"/v1/accounts/{ACCOUNT}"
    vendor.faults = FaultProfile(outages=[(0.0, 0.4)])
    vendor.start_fault_clock(on_next_request=True)
    time.sleep(0.5)  # longer than the outage: a clock started when armed would be past it

    first = call(http, vendor, "GET", path)
    time.sleep(0.45)
    after_window = call(http, vendor, "GET", path)

    assert (first.status, after_window.status) == (503, 200)
    assert vendor.stats().faults_injected == {"outage": 1}

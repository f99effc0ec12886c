"""Behaviour of the fake loyalty vendor that the local cloud puts behind the Vendor Mediator.

Every test talks to a real server on 127.0.0.1 (ephemeral port) over HTTP with short timeouts,
so what is asserted here is what the mediator will see.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import urllib3

from local_cloud.fake_vendor import FakeVendor, FaultProfile

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
    start = time.monotonic()
    vendor.faults = FaultProfile(outages=[(start, start + 0.3)])

    during = call(http, vendor, "POST", POINTS, credit(50), key="k-outage")
    time.sleep(max(0.0, start + 0.3 - time.monotonic()) + 0.05)
    after = call(http, vendor, "POST", POINTS, credit(50), key="k-outage")

    assert (during.status, error_code(during)) == (503, "vendor_unavailable")
    assert "Retry-After" in during.headers
    assert after.status == 201
    assert len(vendor.ledger()) == 1


def test_garbage_is_200_with_non_json_body_and_no_effect(
    vendor: FakeVendor, http: urllib3.PoolManager
) -> None:
    vendor.faults = FaultProfile(garbage_rate=1.0)

    response = call(http, vendor, "POST", POINTS, credit(50), key="k-garbage")

    assert response.status == 200
    with pytest.raises(ValueError):
        json.loads(response.data)
    assert vendor.ledger() == []


def test_hung_response_times_out_on_the_client(
    vendor: FakeVendor, http: urllib3.PoolManager
) -> None:
    vendor.faults = FaultProfile(timeout_rate=1.0, timeout_sleep_seconds=0.5)
    short = urllib3.Timeout(connect=1.0, read=0.1)

    with pytest.raises(urllib3.exceptions.ReadTimeoutError):
        call(http, vendor, "POST", POINTS, credit(50), key="k-timeout", timeout=short)

    # The vendor committed before hanging, as a real one can: the mediator must retry with the key.
    assert len(vendor.ledger()) == 1


def test_latency_delays_the_answer(vendor: FakeVendor, http: urllib3.PoolManager) -> None:
    vendor.faults = FaultProfile(latency_ms=150.0)

    started = time.monotonic()
    response = call(http, vendor, "GET", f"/v1/accounts/{ACCOUNT}")

    assert response.status == 200
    assert time.monotonic() - started >= 0.15


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


def test_admin_faults_rejects_unknown_keys(vendor: FakeVendor, http: urllib3.PoolManager) -> None:
    response = call(http, vendor, "POST", "/_admin/faults", {"error_rte": 1.0})

    assert (response.status, error_code(response)) == (400, "invalid_request")
    assert "error_rte" in response.json()["error"]["message"]
    assert vendor.faults == FaultProfile()


def test_from_dict_rejects_unknown_keys() -> None:
    with pytest.raises(ValueError, match="error_rte"):
        FaultProfile.from_dict({"error_rte": 0.5, "latency_ms": 10})


def test_from_dict_makes_outages_relative_to_now() -> None:
    before = time.monotonic()
    profile = FaultProfile.from_dict({"error_rate": 0.5, "outages": [[1, 2]], "seed": 7})

    assert profile.error_rate == 0.5
    assert profile.seed == 7
    [(start, end)] = profile.outages
    assert before + 1 <= start <= time.monotonic() + 1
    assert end - start == pytest.approx(1.0)


def test_fault_profile_rejects_out_of_range_values() -> None:
    with pytest.raises(ValueError, match="error_rate"):
        FaultProfile(error_rate=1.5)


def test_named_presets() -> None:
    now = time.monotonic()

    assert FaultProfile.named("healthy") == FaultProfile()
    flaky = FaultProfile.named("flaky")
    assert (flaky.error_rate, flaky.lost_response_rate) == (0.2, 0.05)
    assert (flaky.latency_ms, flaky.latency_jitter_ms) == (20.0, 20.0)
    throttled = FaultProfile.named("throttled")
    assert (throttled.rate_limit_rps, throttled.retry_after_seconds) == (5.0, 0.2)
    [(start, end)] = FaultProfile.named("outage").outages
    assert start >= now
    assert end - start == pytest.approx(3.0)
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
    vendor.faults = FaultProfile(error_rate=1.0)

    vendor.reset()

    assert vendor.faults == FaultProfile()
    assert vendor.ledger() == []
    assert vendor.redemptions() == []
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

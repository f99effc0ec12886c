"""The fake vendor's asynchronous jobs, over HTTP: what a client of an operation the profile makes
asynchronous sees (202 and a status URL), when the effect lands in the books, and how jobs fail,
hang and meet faults on their status endpoint."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
import urllib3

from fake_vendor import FakeVendor, FaultProfile
from tests.fake_vendor.test_api import (
    ACCOUNT,
    API_KEY,
    ORDER_1,
    POINTS,
    REWARD,
    VOUCHER,
    VOUCHER_REDEMPTIONS,
    call,
    credit,
    error_code,
    lookup,
)

pytestmark = pytest.mark.timeout(30)

JOB_SECONDS = 0.3
ASYNC = FaultProfile(async_operations=["points", "voucher"], job_seconds=JOB_SECONDS)


@pytest.fixture
def vendor() -> Iterator[FakeVendor]:
    fake = FakeVendor(api_key=API_KEY, faults=ASYNC)
    fake.add_account(ACCOUNT, balance=100)
    fake.add_voucher(VOUCHER)
    fake.add_reward(REWARD)
    with fake:
        yield fake


@pytest.fixture
def http() -> Iterator[urllib3.PoolManager]:
    pool = urllib3.PoolManager(retries=False)
    yield pool
    pool.clear()


def job_of(response: urllib3.BaseHTTPResponse) -> dict[str, Any]:
    assert response.status == 202, response.data
    job: dict[str, Any] = response.json()
    assert job["status"] == "pending"
    assert job["status_url"] == f"/v1/jobs/{job['job_id']}"
    assert response.headers["Location"] == job["status_url"]
    return job


def status(http: urllib3.PoolManager, vendor: FakeVendor, job: dict[str, Any]) -> dict[str, Any]:
    response = call(http, vendor, "GET", job["status_url"])
    assert response.status == 200, response.data
    answer: dict[str, Any] = response.json()
    return answer


def wait_until_finished(
    http: urllib3.PoolManager, vendor: FakeVendor, job: dict[str, Any]
) -> dict[str, Any]:
    deadline = time.monotonic() + 5
    while (answer := status(http, vendor, job))["status"] == "pending":
        assert time.monotonic() < deadline, "the job never finished"
        time.sleep(0.05)
    return answer


def test_an_async_operation_is_accepted_and_takes_effect_when_its_job_finishes(
    vendor: FakeVendor, http: urllib3.PoolManager
) -> None:
    job = job_of(call(http, vendor, "POST", POINTS, credit(50), key="k1"))

    assert status(http, vendor, job)["status"] == "pending"
    assert vendor.ledger() == []
    assert vendor.balance(ACCOUNT) == 100

    finished = wait_until_finished(http, vendor, job)
    assert finished["status"] == "succeeded"
    assert finished["operation"] == "points"
    (entry,) = vendor.ledger()
    assert finished["result"]["transaction_id"] == entry.transaction_id
    assert (entry.points, entry.idempotency_key) == (50, "k1")
    assert vendor.balance(ACCOUNT) == 150


def test_a_job_finishes_on_the_vendors_clock_whether_or_not_anyone_polls(
    vendor: FakeVendor, http: urllib3.PoolManager
) -> None:
    job_of(call(http, vendor, "POST", VOUCHER_REDEMPTIONS, ORDER_1, key="k1"))

    time.sleep(JOB_SECONDS + 0.1)

    (redemption,) = vendor.redemptions()
    assert redemption.code == VOUCHER


def test_the_same_key_replays_the_same_job_and_never_applies_twice(
    vendor: FakeVendor, http: urllib3.PoolManager
) -> None:
    first = job_of(call(http, vendor, "POST", POINTS, credit(50), key="k1"))
    again = call(http, vendor, "POST", POINTS, credit(50), key="k1")
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["job_id"] == first["job_id"]

    wait_until_finished(http, vendor, first)
    late = call(http, vendor, "POST", POINTS, credit(50), key="k1")
    assert late.status == 202
    assert late.json()["job_id"] == first["job_id"]
    assert len(vendor.ledger()) == 1
    assert lookup(http, vendor, "k1").json()["status"] == 202


def test_a_bad_body_is_refused_at_once_and_starts_no_job(
    vendor: FakeVendor, http: urllib3.PoolManager
) -> None:
    refused = call(http, vendor, "POST", POINTS, {**credit(50), "points": 0}, key="k1")

    assert (refused.status, error_code(refused)) == (400, "invalid_request")
    # The key is still free for the corrected request.
    job_of(call(http, vendor, "POST", POINTS, credit(50), key="k1"))


def test_a_job_the_books_refuse_when_it_runs_fails_with_their_reason(
    vendor: FakeVendor, http: urllib3.PoolManager
) -> None:
    first = job_of(call(http, vendor, "POST", VOUCHER_REDEMPTIONS, ORDER_1, key="k1"))
    second = job_of(call(http, vendor, "POST", VOUCHER_REDEMPTIONS, ORDER_1, key="k2"))

    assert wait_until_finished(http, vendor, first)["status"] == "succeeded"
    failed = wait_until_finished(http, vendor, second)
    assert failed["status"] == "failed"
    assert failed["error"]["code"] == "voucher_already_redeemed"
    assert len(vendor.redemptions()) == 1


def test_failed_jobs_take_no_effect_and_stuck_jobs_never_finish(
    vendor: FakeVendor, http: urllib3.PoolManager
) -> None:
    vendor.faults = replace(ASYNC, job_failure_rate=1.0)
    failed = job_of(call(http, vendor, "POST", POINTS, credit(50), key="k1"))
    answer = wait_until_finished(http, vendor, failed)
    assert (answer["status"], answer["error"]["code"]) == ("failed", "job_failed")

    vendor.faults = replace(ASYNC, job_stuck_rate=1.0)
    stuck = job_of(call(http, vendor, "POST", POINTS, credit(50), key="k2"))
    time.sleep(JOB_SECONDS + 0.1)
    assert status(http, vendor, stuck)["status"] == "pending"
    assert vendor.ledger() == []
    assert vendor.stats().faults_injected == {"job_failed": 1, "job_stuck": 1}


def test_operations_not_named_stay_synchronous(
    vendor: FakeVendor, http: urllib3.PoolManager
) -> None:
    redeemed = call(http, vendor, "POST", f"/v1/rewards/{REWARD}/redemptions", ORDER_1, key="k1")

    assert redeemed.status == 201
    assert redeemed.json()["redemption_id"]


def test_the_status_endpoint_meets_the_profiles_faults(
    vendor: FakeVendor, http: urllib3.PoolManager
) -> None:
    job = job_of(call(http, vendor, "POST", POINTS, credit(50), key="k1"))
    vendor.faults = replace(ASYNC, error_rate=1.0)

    refused = call(http, vendor, "GET", job["status_url"])

    assert refused.status == 503
    unknown = FaultProfile(async_operations=["points"])
    vendor.faults = unknown
    missing = call(http, vendor, "GET", "/v1/jobs/job_nope")
    assert (missing.status, error_code(missing)) == (404, "job_not_found")


@pytest.mark.parametrize(
    ("knobs", "message"),
    [
        ({"async_operations": ["refund"]}, "async_operations must be a list of"),
        ({"job_failure_rate": 0.6, "job_stuck_rate": 0.5}, "at most 1"),
        ({"job_seconds": -1}, "job_seconds must be a finite number >= 0"),
    ],
)
def test_bad_job_knobs_are_refused_with_their_name(knobs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FaultProfile.from_dict(knobs)

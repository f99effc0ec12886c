"""End to end on the local cloud: a vendor that answers some operations asynchronously (202 and a
job). The order's step stays open while the mediator polls the job through its queue, so a job's
outcome is what the order records, at no extra state transition."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from fake_vendor import FakeVendor, FaultProfile
from fake_vendor.jobs import ASYNC_OPERATIONS
from local_cloud.cloud import LocalCloud
from local_cloud.run.truth_check import check_truth, vendor_effects
from tests.e2e.conftest import CUSTOMER, sale

EVERY_OPERATION = FaultProfile(async_operations=list(ASYNC_OPERATIONS), job_seconds=0.5)


@pytest.fixture(autouse=True)
def catalog(vendor: FakeVendor) -> Any:
    vendor.reset()
    vendor.add_account(CUSTOMER, balance=1_000)
    yield
    vendor.faults = FaultProfile()


def two_vouchers_and_a_reward(reference: str, vendor: FakeVendor) -> dict[str, Any]:
    codes = [f"{reference}-V1", f"{reference}-V2"]
    for code in codes:
        vendor.add_voucher(code)
    vendor.add_reward(f"{reference}-R")
    return sale(
        reference,
        vouchers=[{"voucher_code": code} for code in codes],
        rewards=[{"reward_code": f"{reference}-R"}],
    )


def assert_records_match_the_vendor(cloud: LocalCloud, vendor: FakeVendor, *refs: str) -> None:
    assert cloud.wait_idle()
    events = cloud.events_by_order()
    truth = check_truth(
        {ref: cloud.order_item(ref) for ref in refs},
        {ref: [event for _, event in events.get(ref, [])] for ref in refs},
        vendor_effects(vendor),
    )
    assert truth.disagreements == []
    assert truth.items > 0


def test_an_order_whose_every_vendor_call_is_a_job_completes_at_no_extra_transition(
    cloud: LocalCloud, vendor: FakeVendor, new_reference: Callable[[str], str]
) -> None:
    synchronous = new_reference("SYNC")
    cloud.submit_order(two_vouchers_and_a_reward(synchronous, vendor))
    baseline = cloud.wait_for_order(synchronous)
    vendor.faults = EVERY_OPERATION
    reference = new_reference("JOBS")

    cloud.submit_order(two_vouchers_and_a_reward(reference, vendor))
    outcome = cloud.wait_for_order(reference)

    assert (outcome.status, baseline.status) == ("COMPLETED", "COMPLETED")
    assert {item["status"] for item in outcome.items.values()} == {"SUBMITTED"}
    assert outcome.state_transitions == baseline.state_transitions
    polled = vendor.stats().by_endpoint.get("GET /v1/jobs/{job_id}", 0)
    assert polled >= 4  # points, two vouchers, the reward: each job asked about at least once
    assert_records_match_the_vendor(cloud, vendor, synchronous, reference)


def test_a_failed_job_fails_the_order_and_its_applied_effects_are_reversed(
    cloud: LocalCloud, vendor: FakeVendor, new_reference: Callable[[str], str]
) -> None:
    reference = new_reference("JOBFAIL")
    vendor.add_voucher(f"{reference}-V")
    # The points are credited at once; the voucher's job fails without effect.
    vendor.faults = FaultProfile(async_operations=["voucher"], job_seconds=0.2, job_failure_rate=1)

    cloud.submit_order(sale(reference, vouchers=[{"voucher_code": f"{reference}-V"}]))
    outcome = cloud.wait_for_order(reference)

    assert (outcome.status, outcome.error) == ("FAILED", "VendorRejected")
    assert outcome.cause is not None and "job_failed" in outcome.cause
    assert outcome.items[f"voucher#{reference}-V"]["status"] == "ERROR"
    assert outcome.items["points"]["status"] == "COMPENSATED"
    ledger = [e.operation for e in vendor.ledger() if e.order_reference == reference]
    assert ledger == ["credit", "deduct"]
    assert vendor.redemptions() == []
    assert_records_match_the_vendor(cloud, vendor, reference)

"""A re-run under ``loyalty:onPartialFailure`` = ``leave``: what the vendor applied before the order
failed stays applied, and the re-run asks only for the rest (issue #12)."""

from __future__ import annotations

from typing import Any

from fake_vendor import FakeVendor
from local_cloud.cloud import LocalCloud
from tests.faults.conftest import FAST_MEDIATOR, assert_settled, effects_of

CLOUD_CONTEXT = {**FAST_MEDIATOR, "loyalty:onPartialFailure": "leave"}


def test_a_failed_order_keeps_what_was_applied_and_its_re_run_asks_only_for_the_rest(
    cloud: LocalCloud, vendor: FakeVendor, order: Any
) -> None:
    api = cloud.api("reviewer")
    # Points and V-1 are applied; NOPE does not exist at the vendor: the order FAILS.
    sale = order(vouchers=[{"voucher_code": "V-1"}, {"voucher_code": "NOPE"}])
    reference = sale["order_reference"]
    assert api.submit(sale).status == 202
    failed = cloud.wait_for_order(reference, timeout=40)
    assert (failed.status, failed.error) == ("FAILED", "VendorRejected")
    assert effects_of(vendor, reference) == ([25], ["V-1"])
    asked_before = vendor.stats().by_endpoint
    vendor.add_voucher("NOPE")  # the vendor's catalogue is put right

    assert api.retry(reference).status == 202
    outcome = cloud.wait_for_order(reference, timeout=40)

    # The applied points and V-1 were not asked for at all; NOPE was asked again under the
    # re-run's own key (the vendor would otherwise answer with its stored refusal).
    assert outcome.status == "COMPLETED", outcome
    assert effects_of(vendor, reference) == ([25], ["NOPE", "V-1"])
    asked = {
        endpoint: count - asked_before.get(endpoint, 0)
        for endpoint, count in vendor.stats().by_endpoint.items()
        if count != asked_before.get(endpoint, 0)
    }
    assert list(asked.values()) == [1], asked  # NOPE's redemption, once
    assert {r.idempotency_key for r in vendor.redemptions() if r.code == "NOPE"} == {
        f"{reference}:voucher:NOPE+2"
    }
    assert {k: v["status"] for k, v in outcome.items.items()} == {
        "points": "SUBMITTED",
        "voucher#V-1": "SUBMITTED",
        "voucher#NOPE": "SUBMITTED",
    }
    assert_settled(cloud, outcome)

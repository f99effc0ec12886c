"""The mediator crashes twice on the same batch: each crashed invocation hides its batch for the
queue's visibility timeout (48 s, six times the function's timeout as AWS advises; 1.6 s at the
fault suite's ``TIME_SCALE``), so the requests come back well after their 1 s deadline. Time lost
to our own crashes is not the vendor's unavailability: they are sent to the (healthy) vendor and
every order ends as it should, with every item's record equal to the vendor's ledger. (Before,
they were answered VendorUnavailable "could not be reached" without a single call.)"""

from __future__ import annotations

import threading
from typing import Any

import pytest

from fake_vendor import FakeVendor
from local_cloud.cloud import LocalCloud
from tests.faults.conftest import FAST_MEDIATOR, assert_settled
from tests.faults.scenarios import SCENARIO_TIMEOUT, run_scenario

CLOUD_CONTEXT = {
    **FAST_MEDIATOR,
    # The smallest invocation the mediator sizes: one request, one attempt, short timeouts.
    "loyalty:vendorBatchSize": 1,
    "loyalty:vendorAttemptsPerDelivery": 1,
    "loyalty:vendorConnectTimeoutSeconds": 0.2,
    "loyalty:vendorReadTimeoutSeconds": 0.3,
    # Shorter than two scaled visibility timeouts: a deadline counted from the first delivery
    # would pass while the batch is hidden.
    "loyalty:vendorDeadlineSeconds": 1,
    "loyalty:vendorReconcileSeconds": 2,
}
CRASHED_REQUESTS = 3


@pytest.mark.slow
@pytest.mark.timeout(SCENARIO_TIMEOUT)
def test_two_crashes_on_the_same_batch_are_not_a_verdict_about_the_vendor(
    cloud: LocalCloud, vendor: FakeVendor
) -> None:
    crashes: dict[str, int] = {}
    lock = threading.Lock()

    def crash_twice(event: dict[str, Any]) -> bool:
        (record,) = event["Records"]  # one request per batch
        with lock:
            seen = crashes.get(record["messageId"])
            if seen is None and len(crashes) < CRASHED_REQUESTS:
                seen = crashes[record["messageId"]] = 0
            if seen is None or seen >= 2:
                return False
            crashes[record["messageId"]] = seen + 1
            return True

    with cloud.function_fault("Mediator", times=2 * CRASHED_REQUESTS, when=crash_twice):
        ran = run_scenario("the mediator crashes twice on a batch", cloud, vendor, seed=1106)

    assert sorted(crashes.values()) == [2] * CRASHED_REQUESTS
    assert ran.unexpected == []  # nothing answered VendorUnavailable: the vendor was fine
    log = cloud.function("Mediator").log_sink.lines
    assert sum("earlier deliveries of this request crashed" in line for line in log) == (
        CRASHED_REQUESTS
    )
    assert_settled(cloud, *ran.result.outcomes.values())

"""A burst of orders on a local cloud whose AWS API quotas are far below it
(``LocalCloud(throttling=...)``): every order still ends as it must, the vendor's ledger matches
the orders and the per-item truth check agrees, while each throttle lasts less than its caller
keeps retrying; and an order start or a vendor answer throttled for longer than Lambda's own
retries last goes through once the quota allows (their SQS buffers keep retrying).

The worker steps wait 10 s for an answer here (not a minute) and Lambda's and EventBridge's
delays are scaled to a sixtieth, so a lost answer costs seconds."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager

import pytest

from fake_vendor import FakeVendor
from local_cloud.cloud import LocalCloud
from local_cloud.run.order_mix import (
    generate_orders,
    seed_codes_for,
    seed_vendor_for,
)
from local_cloud.run.run_report import check_ledger, truth_of
from local_cloud.run.runner import run_orders, submit
from local_cloud.run.sample_orders import SampleOrder
from local_cloud.run.synth import synthesise
from local_cloud.runtime import throttling
from local_cloud.runtime.throttling import BucketSpec

CONTEXT = {
    "loyalty:workerStepHeartbeatSeconds": 10,
    "loyalty:workerStepTimeoutSeconds": 40,
    # The buffers' retries hide a message for real seconds (SQS visibility is not scaled): at
    # most 4 here, so an order waits seconds, not a minute, once the quota is lifted.
    "loyalty:bufferRetryMaxSeconds": 4,
}
MIX = "sale=3,vouchers=2,return=1,approve=1,invalid=1"


@pytest.fixture(scope="module")
def vendor() -> Iterator[FakeVendor]:
    with FakeVendor() as fake:
        seed_vendor_for(fake, [])  # the generated orders' members
        yield fake


@pytest.fixture(scope="module")
def cloud(vendor: FakeVendor) -> Iterator[LocalCloud]:
    with LocalCloud(synthesise(CONTEXT), vendor=vendor, time_scale=1 / 60, throttling={}) as local:
        yield local


@pytest.mark.timeout(150)
def test_a_burst_over_every_quota_still_ends_every_order_as_it_must(
    cloud: LocalCloud, vendor: FakeVendor
) -> None:
    assert cloud.throttler is not None
    samples = generate_orders(8, MIX, seed=3)
    seed_codes_for(vendor, samples)
    # About half an order a second of each API (a sale's calls of it), bursts of a few orders.
    cloud.throttler.limit(
        {
            throttling.START_EXECUTION_STANDARD: BucketSpec(4, 1),
            throttling.START_EXECUTION_EXPRESS: BucketSpec(2, 3),
            throttling.SEND_TASK_SUCCESS: BucketSpec(4, 3),
            throttling.PUT_EVENTS: BucketSpec(8, 8),
            throttling.STATE_TRANSITION: BucketSpec(5, 6),
        }
    )
    # ... and spent by other work when the burst arrives, so each quota binds from the first
    # calls: a full bucket of 8 PutEvents took a burst of 8 submissions whole when a loaded
    # machine sent them slowly.
    for bucket in cloud.throttler.buckets.values():
        while bucket.take():
            pass

    with _all_at_once(cloud, len(samples)) as start:
        result = run_orders(cloud, cloud.api(), samples, timeout=120, start=start)
    assert cloud.wait_idle(timeout=30)

    assert result.pending == [], [cloud.stall_report(r) for r in result.pending]
    assert [s.reference for s in samples if not result.as_expected(s)] == []
    assert check_ledger(cloud, vendor, samples, result.outcomes).mismatches == []
    assert truth_of(cloud, vendor, samples).disagreements == []
    # A worker whose answer could not be put fails its invocation, which is dead-lettered as
    # given up (the step puts its request again after its heartbeat); no order start nor vendor
    # answer was given up: their buffers keep retrying.
    assert _buffer_dead_letters(cloud) == {}
    refused = cloud.throttler.throttled
    for api in (
        throttling.START_EXECUTION_STANDARD,
        throttling.START_EXECUTION_EXPRESS,
        throttling.SEND_TASK_SUCCESS,
        throttling.PUT_EVENTS,
        throttling.STATE_TRANSITION,
    ):
        assert refused[api] > 0, f"{api} never bound: {dict(refused)}"


@contextmanager
def _all_at_once(cloud: LocalCloud, count: int) -> Iterator[Callable[[SampleOrder], None]]:
    """A ``start`` for ``run_orders`` that submits ``count`` orders at the same moment, each on
    its own thread (the runner submits one after another), and fails if a submission did."""
    api = cloud.api()
    together = threading.Barrier(count)

    def submit_with_the_others(sample: SampleOrder) -> None:
        together.wait(timeout=30)
        submit(cloud, api, sample)

    with ThreadPoolExecutor(count) as pool:
        submitted: list[Future[None]] = []
        yield lambda sample: submitted.append(pool.submit(submit_with_the_others, sample))
        for done in submitted:
            done.result()


# Before the SQS buffers, a throttled order start or vendor answer was given up after Lambda's
# two async retries, 1 and 2 minutes apart: 3 s at this scale. Throttle for well over that.
THROTTLED_SECONDS = 8.0


@contextmanager
def _throttled(cloud: LocalCloud, api: str) -> Iterator[Counter[str]]:
    """Refuse every call of ``api`` for ``THROTTLED_SECONDS`` after the block, then lift every
    quota; the counter yielded ends with how many calls were refused."""
    assert cloud.throttler is not None
    before = cloud.throttler.throttled[api]
    cloud.throttler.limit({api: BucketSpec(1, 1e-6)})
    cloud.throttler.buckets[api].take()  # none left
    refused: Counter[str] = Counter()
    yield refused
    time.sleep(THROTTLED_SECONDS)
    refused[api] = cloud.throttler.throttled[api] - before
    cloud.throttler.limit({})


def _buffer_dead_letters(cloud: LocalCloud) -> dict[str, list[dict[str, object]]]:
    return {q: m for q, m in cloud.dead_letters().items() if "Buffer" in q}


@pytest.mark.timeout(60)
def test_an_order_whose_start_is_throttled_for_long_starts_once_the_quota_allows(
    cloud: LocalCloud, vendor: FakeVendor
) -> None:
    (sample,) = generate_orders(1, "sale=1", seed=4)
    seed_codes_for(vendor, [sample])
    ((starter_name, starter),) = (i for i in cloud.functions.items() if "OrderStarter" in i[0])
    failed_items = starter.stats.item_failures

    with _throttled(cloud, throttling.START_EXECUTION_STANDARD) as refused:
        assert cloud.api().submit(sample.order).status == 202

    outcome = cloud.wait_for_order(sample.reference, timeout=30)
    # the order starter was refused, and kept trying: each refused attempt a failed SQS item,
    # which the diagnostics of a stalled run report
    assert refused[throttling.START_EXECUTION_STANDARD] >= 3
    assert starter.stats.item_failures > failed_items
    assert cloud.in_flight()["failing_functions"][starter_name][3] == starter.stats.item_failures
    assert outcome.status == "COMPLETED", (outcome, cloud.dead_letters())
    assert _buffer_dead_letters(cloud) == {}


@pytest.mark.timeout(60)
def test_a_vendor_answer_whose_resume_is_throttled_for_long_resumes_once_the_quota_allows(
    cloud: LocalCloud, vendor: FakeVendor
) -> None:
    (sample,) = generate_orders(1, "sale=1", seed=5)
    seed_codes_for(vendor, [sample])
    before = vendor.stats().requests_total

    assert cloud.api().submit(sample.order).status == 202
    deadline = time.monotonic() + 30
    while vendor.stats().requests_total == before:  # the vendor phase has begun
        assert time.monotonic() < deadline, "no vendor call"
        time.sleep(0.02)
    with _throttled(cloud, throttling.SEND_TASK_SUCCESS) as refused:
        pass

    outcome = cloud.wait_for_order(sample.reference, timeout=30)
    assert refused[throttling.SEND_TASK_SUCCESS] >= 3  # the Token Handler kept trying
    assert outcome.status == "COMPLETED", (outcome, cloud.dead_letters())
    assert _buffer_dead_letters(cloud) == {}

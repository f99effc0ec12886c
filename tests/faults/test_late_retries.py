"""A worker whose invocation fails after it did its work is retried by Lambda a minute later (here
two seconds: ``TIME_SCALE``), when the state machine has long moved on. The late run finds its
step no longer current and changes nothing, answers nothing: the order's record and the vendor's
ledger stay as they were.

The worker steps here wait five minutes (300 s), long enough for Lambda's two retries to be worth
configuring (``lambda_retries_within``), so a retry exists to arrive late."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from fake_vendor import FakeVendor
from local_cloud.cloud import LocalCloud
from local_cloud.run.truth_check import check_truth, vendor_effects
from local_cloud.runtime.lambda_runtime import RETRY_DELAYS_SECONDS
from tests.faults.conftest import (
    FAST_MEDIATOR,
    TIME_SCALE,
    assert_settled,
    report_figures,
    take_dead_letters,
)
from tests.faults.scenarios import ORDERS, SCENARIO_TIMEOUT, run_scenario

CLOUD_CONTEXT = {
    **FAST_MEDIATOR,
    "loyalty:workerStepHeartbeatSeconds": 300,
    "loyalty:workerStepTimeoutSeconds": 600,
}


def test_a_late_lambda_retry_of_a_step_that_moved_on_rewrites_nothing(
    cloud: LocalCloud, vendor: FakeVendor, order: Callable[..., dict[str, Any]]
) -> None:
    sale = order()
    reference = sale["order_reference"]
    worker = cloud.function("ProportionDiscountsWorker")
    started: list[float] = []
    lock = threading.Lock()
    invoke = worker.invoke

    def timed(event: dict[str, Any]) -> Any:
        if event["detail"].get("order_reference") == reference:
            with lock:
                started.append(time.monotonic())
        return invoke(event)

    worker.invoke = timed  # type: ignore[method-assign]
    ended = cloud.tap({"detail-type": ["order.completed", "order.failed"]})
    try:
        with cloud.function_fault(
            "ProportionDiscountsWorker",
            times=1,
            after=True,  # it proportions, records, answers; then the invocation fails
            when=lambda event: event["detail"].get("order_reference") == reference,
        ):
            cloud.submit_order(sale)
            outcome = cloud.wait_for_order(reference, timeout=60)
            assert cloud.wait_idle(timeout=30), cloud.in_flight()  # the retry has run
    finally:
        worker.invoke = invoke  # type: ignore[method-assign]

    assert (outcome.status, outcome.execution_status) == ("COMPLETED", "SUCCEEDED")
    # Lambda ran the same event again a minute later (scaled), not at once ...
    first, retried = started
    assert retried - first >= RETRY_DELAYS_SECONDS[0] * TIME_SCALE
    # ... found the order past that step, and changed and said nothing.
    log = worker.log_sink.lines
    assert any("stale step ignored" in line and reference in line for line in log)
    after = cloud.order_outcome(reference)
    assert after.status == "COMPLETED"
    assert {item: state["status"] for item, state in after.items.items()} == {
        "points": "SUBMITTED",
        "voucher#V-1": "SUBMITTED",
    }
    mine = [e for e in ended.events() if e["detail"]["order_reference"] == reference]
    assert [e["detail-type"] for e in mine] == ["order.completed"]
    truth = check_truth(
        {reference: cloud.order_item(reference)}, {reference: mine}, vendor_effects(vendor)
    )
    assert truth.disagreements == []
    assert take_dead_letters(cloud) == {}  # the retry succeeded (by doing nothing)
    assert_settled(cloud, after)


@pytest.mark.slow
@pytest.mark.timeout(SCENARIO_TIMEOUT)
def test_late_retries_across_a_batch_change_no_record(
    cloud: LocalCloud, vendor: FakeVendor
) -> None:
    worker = cloud.function("ProportionDiscountsWorker")
    stale_before = sum("stale step ignored" in line for line in worker.log_sink.lines)
    retried_before, expired_before = worker.stats.async_retries, worker.stats.async_expired
    crashes = max(1, ORDERS // 3)

    hit: set[str] = set()
    lock = threading.Lock()

    def first_attempt(event: dict[str, Any]) -> bool:
        # Each event fails once, on its first attempt: its retry (the same event) runs clean.
        with lock:
            if event["id"] in hit:
                return False
            hit.add(event["id"])
            return True

    def crashing() -> contextlib.AbstractContextManager[Any]:
        return cloud.function_fault(
            "ProportionDiscountsWorker", times=crashes, after=True, when=first_attempt
        )

    ran = run_scenario(
        "a worker fails after answering; Lambda retries it late",
        cloud,
        vendor,
        seed=1107,
        during=crashing,
    )

    assert ran.unexpected == []
    # Lambda ran each failed event again later, unless it was older than its maximum age by then
    # (under load, at this scale, some are: Lambda then drops it to the dead-letter queue).
    retried = worker.stats.async_retries - retried_before
    expired = worker.stats.async_expired - expired_before
    assert retried + expired == crashes
    stale = sum("stale step ignored" in line for line in worker.log_sink.lines) - stale_before
    assert 0 < stale <= retried  # a late run that found its step gone by changed nothing
    report_figures(
        "... of which",
        f"{crashes} failed after answering; {retried} retried by Lambda ({stale} of them after "
        f"the order moved on: ignored), {expired} past their maximum event age",
    )
    dead = [m for messages in take_dead_letters(cloud).values() for m in messages]
    assert len(dead) == expired
    assert {m["requestContext"]["condition"] for m in dead} <= {"EventAgeExceeded"}
    assert_settled(cloud, *ran.result.outcomes.values())

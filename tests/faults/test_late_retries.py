"""A worker whose invocation fails after it did its work is retried by Lambda a minute later (here
two seconds: ``TIME_SCALE``), when the state machine has long moved on. The late run finds its
step no longer current and changes nothing, answers nothing: the order's record and the vendor's
ledger stay as they were.

The worker steps here wait five minutes (300 s), long enough for Lambda's two retries to be worth
configuring (``lambda_retries_within``), so a retry exists to arrive late."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from local_cloud.cloud import LocalCloud
from local_cloud.fake_vendor import FakeVendor
from local_cloud.lambda_runtime import RETRY_DELAYS_SECONDS
from local_cloud.truth_check import check_truth
from tests.faults.conftest import FAST_MEDIATOR, TIME_SCALE, assert_settled, take_dead_letters

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
    truth = check_truth({reference: cloud.order_item(reference)}, {reference: mine}, vendor)
    assert truth.disagreements == []
    assert take_dead_letters(cloud) == {}  # the retry succeeded (by doing nothing)
    assert_settled(cloud, after)

"""Drive a batch of orders through a running local cloud: submit them (through the Order API or
onto the bus, at most ``concurrency`` unfinished at once), decide the ones that wait for a person
through the API, and collect each order's outcome as it ends. Used by ``python -m local_cloud
run`` and by the fault-injection suite.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from botocore.exceptions import ClientError

from local_cloud.api_client import ApiClient
from local_cloud.cloud import TERMINAL_EXECUTION_STATUSES, LocalCloud, OrderOutcome
from local_cloud.run.progress import OrderProgress
from local_cloud.run.sample_orders import SampleOrder

POLL_SECONDS = 0.1  # polling shares the CPU with the cloud it watches
TRY_AGAIN = frozenset({429, 500, 502, 503, 504})
SUBMIT_RETRY_WAITS = (0.5, 1, 2, 4, 8)


@dataclass
class RunResult:
    outcomes: dict[str, OrderOutcome] = field(default_factory=dict)
    """Every order's outcome (terminal or, after the timeout, as it stands)."""
    pending: list[str] = field(default_factory=list)
    """Orders that did not reach a terminal state in time."""
    elapsed_seconds: float = 0.0

    def as_expected(self, sample: SampleOrder) -> bool:
        outcome = self.outcomes[sample.reference]
        return (outcome.status, outcome.error) == (sample.expected_status, sample.expected_error)


def submit(cloud: LocalCloud, api: ApiClient, sample: SampleOrder) -> None:
    if sample.channel == "bus":
        _put_on_the_bus(cloud, sample)
        return
    response = api.submit(sample.order)
    # A till sends the order again while the API answers "not now" (a 502 when the order could
    # not be put on the bus, as when PutEvents is throttled: the API lets its claim go), and
    # takes "already accepted" (200) as done.
    for wait in SUBMIT_RETRY_WAITS:
        if response.status not in TRY_AGAIN:
            break
        time.sleep(wait)
        response = api.submit(sample.order)
    if response.status not in (200, 202):
        raise RuntimeError(f"POST /orders {sample.reference}: {response.status} {response.body}")


def _put_on_the_bus(cloud: LocalCloud, sample: SampleOrder) -> None:
    # A producer on the bus puts the order again while EventBridge throttles it, as the SDK's
    # retries would (the local cloud's own client makes one attempt, so tests see every refusal).
    for wait in (*SUBMIT_RETRY_WAITS, None):
        try:
            cloud.submit_order(sample.order)
            return
        except ClientError as err:
            if wait is None or err.response["Error"]["Code"] != "ThrottlingException":
                raise
        time.sleep(wait)


def run_orders(
    cloud: LocalCloud,
    api: ApiClient,
    samples: list[SampleOrder],
    *,
    concurrency: int | None = None,
    timeout: float = 120,
    on_end: Callable[[SampleOrder, OrderOutcome], None] | None = None,
    progress: OrderProgress | None = None,
    start: Callable[[SampleOrder], None] | None = None,
) -> RunResult:
    """Submit ``samples`` one after another (all of them, or while fewer than ``concurrency``
    are unfinished) and wait until each ends or ``timeout`` seconds pass. ``on_end`` is called
    once per order as it ends. ``start`` starts an order another way than submitting it (an
    operator's re-run, say)."""
    started = time.monotonic()
    deadline = started + timeout
    # Executions of earlier batches are not this one's (a second of slack for the clocks).
    since = datetime.now(UTC) - timedelta(seconds=1)
    result = RunResult()
    # Separation of duties: staff decide the approvals, never the principal that submitted.
    reviewer = cloud.api("reviewer")
    begin = start or (lambda sample: submit(cloud, api, sample))
    arn_of: dict[str, str] = {}
    waiting = list(samples)
    running: dict[str, SampleOrder] = {}
    decided: set[str] = set()
    ended: Counter[str] = Counter()
    limit = concurrency or len(samples)
    # Fault offsets (an outage from 5 s to 20 s) count from the run's first vendor request: not
    # from the deploy, nor from the first order, whose way to its first vendor step can take
    # longer than a short outage on a busy machine.
    cloud.vendor.start_fault_clock(on_next_request=True)

    while (waiting or running) and time.monotonic() < deadline:
        while waiting and len(running) < limit:
            sample = waiting.pop(0)
            begin(sample)
            # A re-run's execution is another than the first (``<reference>+<attempt>``).
            arn_of[sample.reference] = cloud.current_execution_arn(sample.reference)
            running[sample.reference] = sample
        statuses = cloud.execution_statuses(started_since=since)
        for reference, sample in list(running.items()):
            status = statuses.get(arn_of[reference], "NOT_STARTED")
            if status in TERMINAL_EXECUTION_STATUSES:
                outcome = cloud.order_outcome(reference)
                result.outcomes[reference] = outcome
                ended[outcome.status] += 1
                del running[reference]
                if on_end:
                    if progress:
                        progress.clear()
                    on_end(sample, outcome)
            elif sample.decision and reference not in decided and status == "RUNNING":
                item = cloud.order_item(reference) or {}
                if item.get("status") == "AWAITING_APPROVAL":
                    if sample.decision == "cancel":
                        answer = api.cancel(reference, comment="the customer changed their mind")
                    else:
                        answer = reviewer.decide(
                            reference, sample.decision, comment="decided by the local run"
                        )
                    # "Try again" (a 503 when the decision could not be delivered, as when
                    # SendTaskSuccess is throttled): the person tries again on the next round.
                    if answer.status not in TRY_AGAIN:
                        decided.add(reference)
        if progress:
            tally = ", ".join(f"{status} {count}" for status, count in sorted(ended.items()))
            progress.show(sum(ended.values()), f"{len(running)} running  {tally}".rstrip())
        time.sleep(POLL_SECONDS)

    if progress:
        progress.close()
    for sample in [*running.values(), *waiting]:
        result.outcomes[sample.reference] = cloud.order_outcome(sample.reference)
        result.pending.append(sample.reference)
    result.elapsed_seconds = time.monotonic() - started
    return result

"""Batches of generated orders through faults that leave the vendor's answer ambiguous or the
system's own parts misbehaving, each checked with the invariants of `tests.faults.scenarios`
(every order ended; no item's record or last event disagrees with the vendor's ledger; no effect
applied twice or unaccounted for), and with what the scenario itself promises."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest

from fake_vendor import FakeVendor, FaultProfile
from fake_vendor.jobs import ASYNC_OPERATIONS
from local_cloud.cloud import LocalCloud
from local_cloud.run.order_mix import generate_orders
from tests.faults.conftest import (
    FAST_MEDIATOR,
    assert_settled,
    take_dead_letter_reasons,
    take_messages,
)
from tests.faults.scenarios import MIX, ORDERS, SCENARIO_TIMEOUT, run_scenario

DEADLINE = max(4, ORDERS // 20)
"""Seconds: the deadline counts from a request's first failure, and a request that failed early in
a 500-order batch (``make faults``) then waits behind the whole backlog on two cores."""
RECONCILE = 2
READ_TIMEOUT = 1.5
"""Shorter than FAST_MEDIATOR's 2 s, so the hung answers of the ambiguous scenario cost less; still
long enough that a healthy answer under a 500-order batch is not taken for a timeout, and a
scenario about garbage does not turn into one about timeouts."""
CLOUD_CONTEXT = {
    **FAST_MEDIATOR,
    "loyalty:vendorReadTimeoutSeconds": READ_TIMEOUT,
    # Shorter still, so an outage past both plays out in seconds ...
    "loyalty:vendorDeadlineSeconds": DEADLINE,
    "loyalty:vendorReconcileSeconds": RECONCILE,
    # ... with a quota that keeps the queue short of the deadline (the deadline counts from the
    # vendor's first failure, backlog included: see the README's Known limits), and a circuit
    # that judges a failure rate over as many calls as the production default sees in its
    # window (FAST_MEDIATOR's opens on 2 failures of 3: a vendor failing 30% of the time trips it
    # at the start of many a window, and then every request it holds back nears its deadline).
    "loyalty:vendorRequestsPerSecond": 200,
    "loyalty:vendorCircuitMinRequests": 100,
    "loyalty:vendorCircuitWindowSeconds": 30,
    # A vendor job is asked about every second and given a few before it counts as stuck (more
    # in a 500-order batch, whose polls wait behind the backlog as the deadline's requests do).
    "loyalty:vendorJobPollSeconds": 1,
    "loyalty:vendorJobTimeoutSeconds": DEADLINE,
}


@pytest.fixture(autouse=True)
def drained(cloud: LocalCloud) -> Iterator[None]:
    """The reconciliation queue empty before each scenario (the operator took the last one's)."""
    take_messages(cloud, cloud.output("ReconciliationQueueUrl"))
    yield


@pytest.mark.slow
@pytest.mark.timeout(SCENARIO_TIMEOUT)
def test_lost_answers_and_timeouts_after_the_effect_then_an_outage_past_the_deadline(
    cloud: LocalCloud, vendor: FakeVendor
) -> None:
    # The vendor applies, then the answer is lost (a 502) or never comes (a read timeout) ...
    # and once it has done so a few times it is down, from that request on, for longer than the
    # deadline and the reconciliation window together: the retries of that effect meet it.
    ambiguous = FaultProfile(
        lost_response_rate=0.3,
        timeout_rate=0.3,
        timeout_sleep_seconds=READ_TIMEOUT + 0.2,  # past the read timeout
        outage_after_lost=max(3, ORDERS // 10),
        outage_after_lost_seconds=DEADLINE + RECONCILE + 4,
        seed=1101,
    )
    ran = run_scenario("lost answers, then an outage", cloud, vendor, seed=1101, faults=ambiguous)
    # What could not be settled is parked: item UNKNOWN, order NEEDS_RECONCILIATION, never
    # ERROR or FAILED for an effect the vendor may have applied (the truth check), and some of
    # those the vendor had indeed applied.
    assert vendor.stats().faults_injected.get("outage", 0) > 0
    assert ran.truth.unknown >= 1 and ran.truth.unknown_applied >= 1
    assert cloud.reconciliation_backlog() == ran.truth.unknown
    assert ran.statuses["NEEDS_RECONCILIATION"] >= 1
    assert_settled(cloud, *ran.result.outcomes.values())


@pytest.mark.slow
@pytest.mark.timeout(SCENARIO_TIMEOUT)
@pytest.mark.parametrize(
    ("name", "seed", "faults", "fault"),
    [
        # Garbage (a 2xx that is not JSON) is retried until the vendor answers properly: one
        # malformed last attempt used to fail the order with VendorProtocolError.
        ("20% garbage, 10% 5xx", 1102, {"garbage_rate": 0.2, "error_rate": 0.1}, "garbage"),
        # The vendor applies, then answers 2xx without its id: a replay of the key tells.
        ("2xx without its id", 1103, {"malformed_success_rate": 0.3}, "malformed_success"),
    ],
    ids=["garbage-and-5xx", "2xx-without-id"],
)
def test_when_the_vendor_can_be_asked_again_every_order_ends_as_it_should(
    cloud: LocalCloud,
    vendor: FakeVendor,
    name: str,
    seed: int,
    faults: dict[str, float],
    fault: str,
) -> None:
    ran = run_scenario(
        name,
        cloud,
        vendor,
        seed=seed,
        faults=FaultProfile(**faults, seed=seed),
    )
    assert vendor.stats().faults_injected[fault] > 0
    assert ran.unexpected == []  # no order failed with VendorProtocolError (or anything else)
    assert ran.truth.unknown == 0  # every one settled by asking again
    assert_settled(cloud, *ran.result.outcomes.values())


@pytest.mark.slow
@pytest.mark.timeout(SCENARIO_TIMEOUT)
def test_eventbridge_throttling_the_state_machine_is_retried_with_backoff(
    cloud: LocalCloud, vendor: FakeVendor
) -> None:
    refused: list[dict[str, Any]] = []

    @contextlib.contextmanager
    def throttled() -> Iterator[None]:
        with cloud.state_machine_put_events_fault(rate=0.15, seed=1104) as entries:
            yield
            refused.extend(entries)

    ran = run_scenario(
        "EventBridge throttles 15% of the state machine's PutEvents",
        cloud,
        vendor,
        seed=1104,
        during=throttled,
    )
    assert refused, "nothing was throttled"
    assert ran.unexpected == []
    assert_settled(cloud, *ran.result.outcomes.values())


@pytest.mark.slow
@pytest.mark.timeout(SCENARIO_TIMEOUT)
def test_references_with_whitespace_never_split_an_order(
    cloud: LocalCloud, vendor: FakeVendor
) -> None:
    # Every fifth order is first sent with its reference padded, through the API or on the bus.
    samples = generate_orders(ORDERS, MIX, seed=1105)
    padded = samples[::5]
    api = cloud.api()
    refused_by_api = 0
    for sample in padded:
        order = {**sample.order, "order_reference": f" {sample.reference}"}
        if sample.channel == "api":
            response = api.submit(order)
            assert response.status == 400
            assert [e["field"] for e in response.body["errors"]] == ["order_reference"]
            refused_by_api += 1
        else:
            cloud.submit_order(order)
    assert cloud.wait_idle(timeout=60), cloud.in_flight()
    dead = [m for messages in take_dead_letter_reasons(cloud).values() for m in messages]
    assert len(dead) == len(padded) - refused_by_api
    for event, reason in dead:
        assert reason is not None and "detail.order_reference" in reason
        assert event["detail"]["order_reference"].startswith(" ")

    # ... and then the whole batch, canonical, goes through as usual.
    ran = run_scenario("references with whitespace first", cloud, vendor, seed=1105)
    assert ran.unexpected == []
    assert_settled(cloud, *ran.result.outcomes.values())


@pytest.mark.slow
@pytest.mark.timeout(SCENARIO_TIMEOUT)
def test_vendor_jobs_that_fail_hang_or_meet_errors_are_recorded_as_the_vendor_ended_them(
    cloud: LocalCloud, vendor: FakeVendor
) -> None:
    # Every operation is a job (202); some jobs fail without effect, some never finish (past the
    # job timeout: may still apply, so UNKNOWN, never "not applied"), and one call in ten (the
    # job status calls too) meets a 503 or loses its answer after the vendor acted.
    jobs = FaultProfile(
        async_operations=list(ASYNC_OPERATIONS),
        job_seconds=0.5,
        # A fifth of the jobs each: with 20 orders' ~30 jobs, none of either is a 0.1% chance.
        job_failure_rate=0.2,
        job_stuck_rate=0.2,
        error_rate=0.1,
        lost_response_rate=0.1,
        seed=1108,
    )
    # (A seed of its own: the same seed would generate another scenario's order references.)
    ran = run_scenario("vendor jobs: failed, stuck, 5xx", cloud, vendor, seed=1108, faults=jobs)
    injected = vendor.stats().faults_injected
    assert injected.get("job_failed", 0) > 0 and injected.get("job_stuck", 0) > 0
    assert vendor.stats().by_endpoint.get("GET /v1/jobs/{job_id}", 0) > 0
    # A stuck job is parked for an operator (the reconciliation queue), never failed.
    assert ran.truth.unknown >= 1
    assert cloud.reconciliation_backlog() == ran.truth.unknown
    assert_settled(cloud, *ran.result.outcomes.values())

"""The mediator's decisions for one delivery: answer now, put back with a delay, or park.

The vendor is scripted, the circuit, quota and request memory are in-memory fakes, and the clock
is fixed, so each test reads as "given what happened before, this delivery does that"."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, replace
from typing import Any

import pytest
from vendor_mediator.mediation import (
    MediationPolicy,
    Mediator,
    Park,
    Report,
    Requeue,
    Verdict,
    idempotency_key,
    request_key,
)
from vendor_mediator.request_state import RequestState
from vendor_mediator.resilience import Permit
from vendor_mediator.vendor_client import (
    JobStatus,
    VendorJob,
    VendorProtocolError,
    VendorRejectedError,
    VendorUnavailableError,
)

from loyalty.backoff import Backoff
from loyalty.contract import VendorRequestType, VendorStatus
from loyalty.events import VendorEvent
from tests.sample_events import load_event

NOW = 1_000_000.0
DEADLINE = 60
RECONCILE = 100
JOB_POLL = 5
JOB_TIMEOUT = 300
MESSAGE = "message-1"

LOST = VendorUnavailableError("HTTP 502: bad_gateway", status=502)  # maybe applied
TIMED_OUT = VendorUnavailableError("ReadTimeoutError: read timed out")  # maybe applied
DOWN = VendorUnavailableError("HTTP 503: unavailable", status=503, maybe_applied=False)
REFUSED = VendorUnavailableError("NewConnectionError: refused", maybe_applied=False)


class ScriptedClient:
    """Answers each call (a redemption or a job's status) with the next item of ``script`` (an
    exception is raised)."""

    def __init__(self, *script: Any) -> None:
        self.script = list(script)
        self.keys: list[str] = []
        self.polled: list[tuple[VendorJob, str]] = []

    def redeem(self, kind: str, **kwargs: Any) -> str | VendorJob:
        self.keys.append(kwargs["idempotency_key"])
        outcome = self.script.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome if isinstance(outcome, VendorJob) else str(outcome)

    def job_status(self, job: VendorJob, reference_field: str) -> JobStatus:
        self.polled.append((job, reference_field))
        outcome = self.script.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        assert isinstance(outcome, JobStatus)
        return outcome


class FakeCircuit:
    def __init__(self, permit: Permit | None = None) -> None:
        self.permit_to_give = permit or Permit(True)
        self.failures = 0
        self.successes = 0
        self.throttled: list[float] = []

    def permit(self) -> Permit:
        return self.permit_to_give

    def record_success(self, permit: Permit) -> bool:
        self.successes += 1
        return permit.probe

    def record_failure(self, permit: Permit) -> bool:
        self.failures += 1
        return self.failures == 2

    def throttle(self, seconds: float) -> None:
        self.throttled.append(seconds)


class FakeLimiter:
    def __init__(self, grant: bool = True) -> None:
        self.grant = grant

    def acquire(self, max_wait_seconds: float) -> bool:
        return self.grant


class FakeStates:
    """The request memory (mediator state table), in memory, with DynamoDB's conditions: one
    instance may serve two messages of one request, as the table does."""

    def __init__(self, prior: RequestState | None = None, *, calls_in_doubt: int = 0) -> None:
        self.state = prior or RequestState()
        self.calls_in_doubt = calls_in_doubt
        self.closed_keys = {KEY} if self.state.closed else set()
        self.loads = 0
        self.calls = 0
        self.saves: list[dict[str, Any]] = []

    def load(self, request_key: str, message_id: str) -> RequestState:
        self.loads += 1
        return replace(self.state, closed=request_key in self.closed_keys)

    @property
    def closed(self) -> bool:
        return bool(self.closed_keys)

    def begin_call(self, request_key: str, *, now: float) -> bool:
        if request_key in self.closed_keys:
            return False
        self.calls += 1
        self.calls_in_doubt += 1
        return True

    def not_handled(self, request_key: str) -> None:
        self.calls_in_doubt -= 1

    def close(self, request_key: str, *, now: float) -> bool:
        if self.calls_in_doubt > 0:
            return False
        self.closed_keys.add(request_key)
        return True

    def save(self, request_key: str, message_id: str, **saved: Any) -> None:
        if saved.get("job") is None:
            saved.pop("job", None)  # only a 202 records a job
        self.saves.append({"key": request_key, "message": message_id, **saved})


POLICY = MediationPolicy(
    attempts_per_delivery=2,
    deadline_seconds=DEADLINE,
    reconcile_seconds=RECONCILE,
    job_poll_seconds=JOB_POLL,
    job_timeout_seconds=JOB_TIMEOUT,
    backoff=Backoff(base_seconds=1, cap_seconds=8),
)


def mediator(
    client: ScriptedClient,
    circuit: FakeCircuit | None = None,
    limiter: FakeLimiter | None = None,
    states: FakeStates | None = None,
    sleep: Callable[[float], None] = lambda _: None,
    **policy: Any,
) -> Mediator:
    return Mediator(
        client=client,  # type: ignore[arg-type]
        circuit=circuit or FakeCircuit(),  # type: ignore[arg-type]
        limiter=limiter or FakeLimiter(),  # type: ignore[arg-type]
        states=states or FakeStates(),  # type: ignore[arg-type]
        policy=replace(POLICY, **policy),
        clock=lambda: NOW,
        sleep=sleep,
    )


REQUEST = VendorEvent.model_validate(load_event("seed000_step1_voucher_request")["detail"])
KEY = "M101-S76-OP10-T65:voucher:1v8LlBkl"


def process(
    m: Mediator, *, delivery: int = 1, request: VendorEvent = REQUEST
) -> tuple[Verdict | Requeue | Park, Report]:
    report = Report()
    return m.process(request, message_id=MESSAGE, delivery=delivery, report=report), report


def error_name(outcome: object) -> str:
    assert isinstance(outcome, Verdict) and outcome.error is not None, outcome
    return outcome.error.name


# -- answering -----------------------------------------------------------------------------


def test_a_first_attempt_that_succeeds_only_counts_its_call() -> None:
    states = FakeStates()
    outcome, report = process(mediator(ScriptedClient("red-1"), states=states))
    assert outcome == Verdict(VendorStatus.SUBMITTED, vendor_references=["red-1"])
    assert report == Report(calls=1)
    assert (states.loads, states.calls, states.saves) == (0, 1, [])


def test_a_report_says_exactly_what_happened_and_nothing_more() -> None:
    """Every field spelled out: a report that claims a probe, a throttle or an opened circuit
    that did not happen would put a false line in the logs and the metrics."""
    _, report = process(mediator(ScriptedClient("red-1")))
    assert asdict(report) == {
        "calls": 1,
        "failures": 0,
        "retries": 0,
        "vendor_seconds": 0.0,  # the clock stands still here
        "probed": False,
        "circuit_opened": False,
        "circuit_closed": False,
        "throttled": False,
        "job": None,
        "in_doubt": False,
        "crashes": 0,
        "vendor_message": None,
    }


def test_a_transient_failure_is_retried_in_the_same_invocation() -> None:
    client = ScriptedClient(DOWN, "red-1")
    outcome, report = process(mediator(client))
    assert outcome == Verdict(VendorStatus.SUBMITTED, vendor_references=["red-1"])
    assert report == Report(calls=2, failures=1, retries=1)
    assert client.keys == [KEY, KEY]


class TopOfTheJitter(Backoff):
    """Backoff whose full jitter always draws its ceiling: each wait is exactly the longest
    the policy allows, so a wait of the wrong retry's length shows."""

    def delay(self, attempt: int, rand: Callable[[], float] = lambda: 1.0) -> float:
        return super().delay(attempt, rand)


CEILINGS = TopOfTheJitter(base_seconds=1, cap_seconds=8)  # 1, 2, 4, 8, 8, ... seconds


def test_retries_in_the_invocation_wait_the_backoff_of_each_retry() -> None:
    slept: list[float] = []
    client = ScriptedClient(DOWN, TIMED_OUT, "red-1")
    m = mediator(client, sleep=slept.append, backoff=CEILINGS, attempts_per_delivery=3)
    outcome, report = process(m)
    assert outcome == Verdict(VendorStatus.SUBMITTED, vendor_references=["red-1"])
    assert slept == [1, 2]  # before the first retry and the second
    assert report == Report(calls=3, failures=2, retries=2, circuit_opened=True)


def test_a_malformed_answer_counts_one_failure_and_is_retried() -> None:
    garbage = VendorProtocolError("HTTP 200 with a body that is not JSON")
    outcome, report = process(mediator(ScriptedClient(garbage, "red-1")))
    assert outcome == Verdict(VendorStatus.SUBMITTED, vendor_references=["red-1"])
    assert report == Report(calls=2, failures=1, retries=1)


def test_the_idempotency_key_ignores_the_task_token() -> None:
    client = ScriptedClient("red-1", "red-2")
    retried = REQUEST.model_copy(
        update={"data": REQUEST.data.model_copy(update={"loyalty_request_id": "a-new-token"})}
    )
    for request in (REQUEST, retried):
        process(mediator(client), request=request)
    assert client.keys == [KEY, KEY]
    assert request_key(REQUEST) == request_key(retried) == KEY
    assert idempotency_key(REQUEST, "1v8LlBkl") == KEY  # a first run, unless told otherwise


def test_a_re_run_asks_under_its_own_keys_and_has_its_own_request_memory() -> None:
    client = ScriptedClient("red-1", "red-2")
    # The first run's request was answered "not applied": fenced.
    states = FakeStates(RequestState(trouble_since=NOW - 900, closed=True))
    m = mediator(client, states=states)
    first, _ = process(m)
    report = Report()
    second = m.process(REQUEST, message_id=MESSAGE, delivery=1, report=report, attempt=2)
    assert error_name(first) == "VendorUnavailable"  # the fence holds for the first run
    assert second == Verdict(VendorStatus.SUBMITTED, vendor_references=["red-1"])
    assert client.keys == [f"{KEY}+2"]
    assert request_key(REQUEST, 2) == f"{KEY}+2"


def test_a_rejection_is_answered_at_once_and_is_not_a_circuit_failure() -> None:
    circuit = FakeCircuit()
    client = ScriptedClient(VendorRejectedError(409, "voucher_already_redeemed", "used"))
    outcome, report = process(mediator(client, circuit))
    assert error_name(outcome) == "VendorRejected"
    assert (report.calls, circuit.failures, circuit.successes) == (1, 0, 1)


class PointsClient(ScriptedClient):
    """Records the points operations asked for."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: list[dict[str, Any]] = []

    def apply_points(self, operation: str, **kwargs: Any) -> str:
        self.asked.append({"operation": operation, **kwargs})
        return "txn-1"


@pytest.mark.parametrize(
    ("kind", "operation"),
    [
        (VendorRequestType.SALE, "credit"),
        (VendorRequestType.RETURN, "deduct"),
        (VendorRequestType.SALE_REVERSAL, "deduct"),  # gives back what the sale credited
        (VendorRequestType.RETURN_REVERSAL, "credit"),  # gives back what the return deducted
    ],
)
def test_each_points_request_asks_the_vendor_for_its_operation(
    kind: VendorRequestType, operation: str
) -> None:
    detail = load_event("seed000_step1_voucher_request")["detail"]
    detail["metadata"]["type"] = kind.value
    detail["data"].update(points=42, vouchers=[])
    request = VendorEvent.model_validate(detail)
    client = PointsClient()

    outcome, report = process(mediator(client), request=request)

    assert outcome == Verdict(VendorStatus.SUBMITTED, vendor_references=["txn-1"])
    data = request.data
    assert client.asked == [
        {
            "operation": operation,
            "account": data.loyalty_reference,
            "points": 42,
            "order_reference": data.loyalty_order_reference,
            "merchant_reference": data.merchant_reference,
            "idempotency_key": f"{data.loyalty_order_reference}:{kind.value}:points",
        }
    ]
    assert report == Report(calls=1)


@pytest.mark.parametrize("points", [0, None])
def test_nothing_to_credit_is_submitted_without_a_call(points: int | None) -> None:
    detail = load_event("seed000_step1_voucher_request")["detail"]
    detail["metadata"]["type"] = "sale"
    detail["data"].update(points=points, vouchers=[])
    outcome, report = process(
        mediator(ScriptedClient()), request=VendorEvent.model_validate(detail)
    )
    assert outcome == Verdict(VendorStatus.SUBMITTED)
    assert report.calls == 0


# -- waiting -------------------------------------------------------------------------------


def test_no_requeue_is_longer_than_sqs_allows_whatever_the_vendor_asks() -> None:
    """A Retry-After of two days, with a deadline further still: SQS makes a message invisible
    for 12 hours at most, so that is the longest the request is put back for."""
    circuit = FakeCircuit(Permit(False, retry_after=2 * 86400, reason="vendor asked us to wait"))
    patient = mediator(ScriptedClient(), circuit, deadline_seconds=3 * 86400)

    outcome, _ = process(patient)

    assert outcome == Requeue(12 * 3600, "vendor asked us to wait")


def test_still_failing_after_the_attempts_goes_back_to_the_queue_remembering_the_trouble() -> None:
    states = FakeStates()
    outcome, report = process(mediator(ScriptedClient(DOWN, DOWN), states=states), delivery=1)
    assert isinstance(outcome, Requeue)
    assert 1 <= outcome.delay_seconds <= 2  # backoff ceiling of the first delivery
    assert outcome.reason == "HTTP 503: unavailable"
    # two calls, both failed; a retry inside the invocation and the requeue
    assert report == Report(
        calls=2, failures=2, retries=2, circuit_opened=True, vendor_message=report.vendor_message
    )
    assert states.saves == [{"key": KEY, "message": MESSAGE, "now": NOW, "trouble_since": NOW}]
    assert states.calls_in_doubt == 0  # two 503s: the vendor handled neither call


class SequenceCircuit(FakeCircuit):
    """Gives the permits in order, as a shared circuit would: a probe once, then refusals."""

    def __init__(self, *permits: Permit) -> None:
        super().__init__()
        self.permits = list(permits)
        self.asked = 0

    def permit(self) -> Permit:
        self.asked += 1
        return self.permits.pop(0)


def test_a_granted_permit_is_used_not_asked_for_again() -> None:
    """A probe is granted to one consumer once: asking again would be refused ("probe in
    flight") and the probe never made."""
    circuit = SequenceCircuit(
        Permit(True, probe=True),
        Permit(False, retry_after=5, reason="circuit half-open, probe in flight"),
    )
    outcome, report = process(mediator(ScriptedClient("red-1"), circuit))
    assert outcome == Verdict(VendorStatus.SUBMITTED, vendor_references=["red-1"])
    assert circuit.asked == 1
    assert report.probed is True


def test_retry_after_is_honoured_for_everyone_and_is_not_a_failure() -> None:
    circuit = FakeCircuit()
    throttled = VendorUnavailableError("HTTP 429", status=429, retry_after=5, maybe_applied=False)
    outcome, report = process(mediator(ScriptedClient(throttled, throttled), circuit))
    assert circuit.throttled == [5, 5]
    assert circuit.failures == 0
    assert isinstance(outcome, Requeue) and outcome.delay_seconds >= 5
    assert report.throttled


@pytest.mark.parametrize("pause", [0.4, 1.0])  # up to a second (the policy's max wait)
def test_a_short_pause_is_waited_out_in_the_invocation(pause: float) -> None:
    slept: list[float] = []

    class PausedOnce(FakeCircuit):
        def permit(self) -> Permit:
            if not self.throttled:
                self.throttled.append(pause)
                return Permit(False, retry_after=pause, reason="vendor asked us to wait (429)")
            return Permit(True)

    outcome, report = process(mediator(ScriptedClient("red-1"), PausedOnce(), sleep=slept.append))
    assert outcome == Verdict(VendorStatus.SUBMITTED, vendor_references=["red-1"])
    assert report.calls == 1
    assert slept == [pause]


def test_an_open_circuit_sends_nothing_and_requeues_until_it_may_close() -> None:
    client = ScriptedClient()
    states = FakeStates()
    circuit = FakeCircuit(Permit(False, retry_after=7.2, reason="circuit open"))
    outcome, report = process(mediator(client, circuit, states=states))
    assert outcome == Requeue(8, "circuit open")
    assert report.calls == 0
    assert states.saves[0]["trouble_since"] == NOW  # the open circuit is the vendor's trouble


def test_an_exhausted_quota_requeues_for_a_second_without_starting_the_deadline() -> None:
    states = FakeStates()
    outcome, _ = process(
        mediator(ScriptedClient(), limiter=FakeLimiter(grant=False), states=states)
    )
    assert outcome == Requeue(1, "vendor quota exhausted")
    assert states.saves[0]["trouble_since"] is None


# -- the deadline measures the vendor's unavailability ------------------------------------


def test_trouble_that_lasted_past_the_deadline_is_answered_vendor_unavailable() -> None:
    states = FakeStates(RequestState(trouble_since=NOW - DEADLINE - 1, handled=4))
    client = ScriptedClient(DOWN, DOWN)
    outcome, report = process(mediator(client, states=states), delivery=5)
    assert error_name(outcome) == "VendorUnavailable"
    assert isinstance(outcome, Verdict) and outcome.error is not None
    assert "unavailable for 61 s, past the 60 s deadline" in outcome.error.reason
    assert report.calls == 2  # the verdict rests on this delivery's own failed attempts


def test_a_request_that_waited_long_but_never_met_vendor_trouble_gets_no_verdict() -> None:
    # Waiting in the queue (the quota) is not the vendor's unavailability: the clock starts now.
    states = FakeStates(RequestState(handled=40))
    outcome, _ = process(mediator(ScriptedClient(DOWN, DOWN), states=states), delivery=41)
    assert isinstance(outcome, Requeue)
    assert states.saves[0]["trouble_since"] == NOW


def test_at_the_deadline_an_open_circuit_is_enough_evidence() -> None:
    states = FakeStates(RequestState(trouble_since=NOW - DEADLINE, handled=3))
    circuit = FakeCircuit(Permit(False, retry_after=20, reason="circuit open"))
    outcome, report = process(mediator(ScriptedClient(), circuit, states=states), delivery=4)
    assert error_name(outcome) == "VendorUnavailable"
    assert report.calls == 0


def test_a_requeue_never_hides_a_request_past_its_deadline() -> None:
    states = FakeStates(RequestState(trouble_since=NOW - 57.5, handled=1))
    circuit = FakeCircuit(Permit(False, retry_after=30, reason="circuit open"))
    outcome, _ = process(mediator(ScriptedClient(), circuit, states=states), delivery=2)
    assert outcome == Requeue(3, "circuit open")


# -- an outcome in doubt is never answered "not applied" ------------------------------------


def test_past_the_deadline_with_no_call_in_doubt_not_applied_is_fenced_for_good() -> None:
    states = FakeStates(RequestState(trouble_since=NOW - DEADLINE - 1, handled=4))
    outcome, _ = process(mediator(ScriptedClient(DOWN, DOWN), states=states), delivery=5)
    assert error_name(outcome) == "VendorUnavailable"
    assert states.closed  # no delivery of this request will call the vendor again
    sibling = ScriptedClient("red-1")
    late, report = process(mediator(sibling, states=states))
    assert error_name(late) == "VendorUnavailable"
    assert (sibling.keys, report.calls) == ([], 0)


@pytest.mark.parametrize(
    "ambiguous",
    [LOST, TIMED_OUT, VendorProtocolError("vendor answer has no redemption_id")],
    ids=["502", "read-timeout", "2xx-without-id"],
)
def test_a_call_that_may_have_been_applied_stays_in_doubt(ambiguous: Exception) -> None:
    states = FakeStates()
    outcome, _ = process(mediator(ScriptedClient(ambiguous, DOWN), states=states))
    assert isinstance(outcome, Requeue)
    assert states.calls_in_doubt == 1  # the 503 was counted back, the ambiguous one was not


@pytest.mark.parametrize("failure", [DOWN, REFUSED], ids=["503", "connection-refused"])
def test_a_call_the_vendor_never_handled_leaves_no_doubt(failure: Exception) -> None:
    states = FakeStates()
    process(mediator(ScriptedClient(failure, failure), states=states))
    assert states.calls_in_doubt == 0


def test_in_doubt_past_the_deadline_it_is_asked_again_not_answered_unavailable() -> None:
    states = FakeStates(RequestState(trouble_since=NOW - DEADLINE - 1, handled=9), calls_in_doubt=1)
    outcome, report = process(mediator(ScriptedClient(DOWN, DOWN), states=states), delivery=10)
    assert isinstance(outcome, Requeue)  # within the reconciliation window
    assert report.in_doubt and not states.closed


def test_in_doubt_a_replay_that_answers_settles_it_as_applied() -> None:
    states = FakeStates(
        RequestState(trouble_since=NOW - DEADLINE - 50, handled=9), calls_in_doubt=1
    )
    outcome, _ = process(mediator(ScriptedClient("red-original"), states=states), delivery=10)
    assert outcome == Verdict(VendorStatus.SUBMITTED, vendor_references=["red-original"])


def test_in_doubt_past_the_reconciliation_window_it_is_answered_outcome_unknown() -> None:
    lasted = DEADLINE + RECONCILE
    states = FakeStates(RequestState(trouble_since=NOW - lasted, handled=20), calls_in_doubt=1)
    outcome, report = process(mediator(ScriptedClient(DOWN, DOWN), states=states), delivery=21)
    assert error_name(outcome) == "VendorOutcomeUnknown"
    assert isinstance(outcome, Verdict) and outcome.outcome_unknown
    assert report.in_doubt is True


def test_garbage_every_time_is_retried_and_never_answered_as_not_applied() -> None:
    garbage = VendorProtocolError("HTTP 200 with a body that is not JSON")
    states = FakeStates()
    first, _ = process(mediator(ScriptedClient(garbage, garbage), states=states))
    assert isinstance(first, Requeue)  # one garbage answer does not fail the order
    states.state = RequestState(trouble_since=NOW - DEADLINE - RECONCILE, handled=1)
    last, _ = process(mediator(ScriptedClient(garbage, garbage), states=states), delivery=2)
    assert error_name(last) == "VendorOutcomeUnknown"


def test_in_doubt_near_the_end_of_the_window_it_is_put_back_only_until_the_window_ends() -> None:
    """Asked again no later than the reconciliation window's end, even when the backoff would
    wait longer: the verdict is due then, and an order must not wait past it."""
    lasted = DEADLINE + RECONCILE - 3
    states = FakeStates(RequestState(trouble_since=NOW - lasted, handled=9), calls_in_doubt=1)
    m = mediator(ScriptedClient(DOWN, DOWN), states=states, backoff=CEILINGS)
    outcome, report = process(m, delivery=10)
    assert outcome == Requeue(3, "HTTP 503: unavailable")  # the backoff alone: 8 s
    assert report.in_doubt is True


def test_a_sibling_messages_call_in_doubt_forbids_not_applied() -> None:
    # Two messages of one request (a step re-sent with a new token): B's call timed out, maybe
    # after the vendor applied it; A, past the deadline, meets a 503 of its own.
    shared = FakeStates(RequestState(trouble_since=NOW - DEADLINE - 1, handled=3))
    process(mediator(ScriptedClient(TIMED_OUT, DOWN), states=shared))  # B
    outcome, _ = process(mediator(ScriptedClient(DOWN, DOWN), states=shared), delivery=4)  # A
    assert isinstance(outcome, Requeue)  # not VendorUnavailable
    assert not shared.closed


# -- our own crashes are not the vendor's unavailability ----------------------------------


def test_crashed_deliveries_do_not_start_the_deadline_and_the_vendor_is_asked() -> None:
    # Received three times, finished none: two deliveries crashed (maybe mid-call).
    states = FakeStates(RequestState(handled=0))
    outcome, report = process(mediator(ScriptedClient("red-1"), states=states), delivery=3)
    assert outcome == Verdict(VendorStatus.SUBMITTED, vendor_references=["red-1"])
    assert report.crashes == 2


@pytest.mark.parametrize(("delivery", "crashes"), [(2, 1), (3, 2)])
def test_every_delivery_the_mediator_did_not_finish_counts_as_one_crash(
    delivery: int, crashes: int
) -> None:
    states = FakeStates(RequestState(handled=0))
    _, report = process(mediator(ScriptedClient("red-1"), states=states), delivery=delivery)
    assert report.crashes == crashes


def test_a_call_cut_short_by_a_crash_stays_in_doubt() -> None:
    # The crashed delivery counted its call before making it, and never counted it back.
    states = FakeStates(RequestState(trouble_since=NOW - DEADLINE - 1), calls_in_doubt=1)
    outcome, _ = process(mediator(ScriptedClient(DOWN, DOWN), states=states), delivery=2)
    assert isinstance(outcome, Requeue)
    assert not states.closed


def test_a_request_that_keeps_crashing_the_mediator_is_parked_unanswered() -> None:
    states = FakeStates(RequestState(trouble_since=NOW - 1000, handled=1))
    client = ScriptedClient()
    outcome, report = process(mediator(client, states=states), delivery=5)
    assert isinstance(outcome, Park)
    assert "failed to finish 3 of them" in outcome.reason
    assert "not the vendor" in outcome.reason
    assert (report.crashes, client.keys) == (3, [])


def test_requeued_deliveries_are_not_crashes() -> None:
    states = FakeStates(RequestState(handled=6))
    outcome, report = process(mediator(ScriptedClient("red-1"), states=states), delivery=7)
    assert isinstance(outcome, Verdict)
    assert report == replace(Report(), calls=1)


# -- the vendor's asynchronous jobs ----------------------------------------------------------

JOB = VendorJob("job_1", "/v1/jobs/job_1")


def waiting_on_job(accepted_seconds_ago: float, **prior: Any) -> FakeStates:
    return FakeStates(
        RequestState(job=JOB, job_accepted_at=NOW - accepted_seconds_ago, handled=1, **prior),
        calls_in_doubt=1,
    )


def test_a_202_puts_the_request_back_for_the_poll_interval_with_its_job() -> None:
    states = FakeStates()
    outcome, report = process(mediator(ScriptedClient(JOB), states=states))

    assert outcome == Requeue(JOB_POLL, "the vendor's job job_1 is running")
    assert report == Report(calls=1, job="job_1")
    assert states.saves == [
        {"key": KEY, "message": MESSAGE, "now": NOW, "trouble_since": None, "job": (JOB, NOW)}
    ]


def test_a_later_delivery_asks_the_job_instead_of_calling_again() -> None:
    client = ScriptedClient(JobStatus("succeeded", reference="red-1"))
    outcome, report = process(mediator(client, states=waiting_on_job(10)), delivery=2)

    assert outcome == Verdict(VendorStatus.SUBMITTED, vendor_references=["red-1"])
    assert client.keys == []  # no second redemption call
    assert client.polled == [(JOB, "redemption_id")]
    assert report == Report(calls=1, job="job_1")


def test_a_failed_job_is_a_refusal_that_applied_nothing() -> None:
    client = ScriptedClient(JobStatus("failed", code="voucher_already_redeemed"))
    outcome, _ = process(mediator(client, states=waiting_on_job(10)), delivery=2)

    assert error_name(outcome) == "VendorRejected"
    assert isinstance(outcome, Verdict) and outcome.error is not None
    assert "voucher_already_redeemed" in outcome.error.reason


@pytest.mark.parametrize(
    ("running", "delay"),
    [(0, JOB_POLL), (JOB_TIMEOUT - JOB_POLL, JOB_POLL), (JOB_TIMEOUT - 2, 2)],
)
def test_a_running_job_is_asked_again_no_later_than_its_timeout(running: int, delay: int) -> None:
    client = ScriptedClient(JobStatus("pending"))
    outcome, _ = process(mediator(client, states=waiting_on_job(running)), delivery=2)

    assert outcome == Requeue(delay, "the vendor's job job_1 is running")


def test_a_job_still_running_at_its_timeout_is_in_doubt_not_failed() -> None:
    client = ScriptedClient(JobStatus("pending"))
    outcome, report = process(mediator(client, states=waiting_on_job(JOB_TIMEOUT)), delivery=2)

    assert error_name(outcome) == "VendorOutcomeUnknown"
    assert report.in_doubt is True


def test_a_status_call_that_fails_is_vendor_trouble_and_the_job_stays_in_doubt() -> None:
    circuit = FakeCircuit()
    states = waiting_on_job(10, trouble_since=NOW - DEADLINE - 1)
    outcome, report = process(mediator(ScriptedClient(DOWN), circuit, states=states), delivery=2)

    # Past the deadline, but the job may have applied: asked again, never "not applied".
    assert isinstance(outcome, Requeue)
    assert report.in_doubt is True
    assert circuit.failures == 1
    assert states.closed_keys == set()


def test_a_failed_status_call_is_retried_after_the_backoff_of_a_first_retry() -> None:
    states = waiting_on_job(10)
    m = mediator(ScriptedClient(DOWN), states=states, backoff=CEILINGS)
    outcome, report = process(m, delivery=2)
    assert outcome == Requeue(2, "job job_1: HTTP 503: unavailable")
    assert report == Report(calls=1, failures=1, job="job_1", vendor_message=None)
    assert states.calls_in_doubt == 1  # the job may still apply


def test_a_throttled_status_call_holds_every_consumer_back() -> None:
    throttled = VendorUnavailableError(
        "HTTP 429 rate_limited", status=429, retry_after=3, maybe_applied=False
    )
    circuit = FakeCircuit()
    states = waiting_on_job(10)
    outcome, report = process(
        mediator(ScriptedClient(throttled), circuit, states=states), delivery=2
    )

    assert isinstance(outcome, Requeue) and outcome.delay_seconds >= 3
    assert circuit.throttled == [3]
    assert report.throttled is True
    assert states.calls_in_doubt == 1  # a status call never counts the job back


def test_an_open_circuit_holds_the_poll_back_without_calling() -> None:
    client = ScriptedClient()
    circuit = FakeCircuit(Permit(False, retry_after=30, reason="circuit open"))
    outcome, _ = process(mediator(client, circuit, states=waiting_on_job(10)), delivery=2)

    assert isinstance(outcome, Requeue) and outcome.reason == "circuit open"
    assert client.polled == []

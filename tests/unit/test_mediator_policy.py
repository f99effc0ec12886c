"""The mediator's decisions for one delivery: answer now, or put back with a delay."""

from __future__ import annotations

from typing import Any

import pytest
from vendor_mediator.mediation import MediationPolicy, Mediator, Report, Requeue, Verdict
from vendor_mediator.resilience import Permit
from vendor_mediator.vendor_client import (
    VendorProtocolError,
    VendorRejectedError,
    VendorUnavailableError,
)

from loyalty.backoff import Backoff
from loyalty.contract import VendorStatus
from loyalty.events import VendorEvent
from tests.sample_events import load_event

NOW = 1_000_000.0


class ScriptedClient:
    """Answers each call with the next item of ``script`` (an exception is raised)."""

    def __init__(self, *script: Any) -> None:
        self.script = list(script)
        self.keys: list[str] = []

    def redeem(self, kind: str, **kwargs: Any) -> str:
        self.keys.append(kwargs["idempotency_key"])
        outcome = self.script.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return str(outcome)


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


def mediator(
    client: ScriptedClient, circuit: FakeCircuit | None = None, limiter: FakeLimiter | None = None
) -> Mediator:
    return Mediator(
        client=client,  # type: ignore[arg-type]
        circuit=circuit or FakeCircuit(),  # type: ignore[arg-type]
        limiter=limiter or FakeLimiter(),  # type: ignore[arg-type]
        policy=MediationPolicy(
            attempts_per_delivery=2,
            deadline_seconds=60,
            backoff=Backoff(base_seconds=1, cap_seconds=8),
        ),
        clock=lambda: NOW,
        sleep=lambda _: None,
    )


REQUEST = VendorEvent.model_validate(load_event("seed000_step1_voucher_request")["detail"])


def process(m: Mediator, *, age: float = 0, delivery: int = 1) -> tuple[Verdict | Requeue, Report]:
    report = Report()
    return m.process(REQUEST, received_at=NOW - age, delivery=delivery, report=report), report


def test_a_transient_failure_is_retried_in_the_same_invocation() -> None:
    client = ScriptedClient(VendorUnavailableError("HTTP 503", status=503), "red-1")
    outcome, report = process(mediator(client))
    assert outcome == Verdict(VendorStatus.SUBMITTED, vendor_references=["red-1"])
    assert (report.calls, report.retries) == (2, 1)
    assert client.keys == ["M101-S76-OP10-T65:voucher:1v8LlBkl"] * 2


def test_the_idempotency_key_ignores_the_task_token() -> None:
    client = ScriptedClient("red-1", "red-2")
    retried = REQUEST.model_copy(
        update={"data": REQUEST.data.model_copy(update={"loyalty_request_id": "a-new-token"})}
    )
    for request in (REQUEST, retried):
        mediator(client).process(request, received_at=NOW, delivery=1, report=Report())
    assert client.keys[0] == client.keys[1] == "M101-S76-OP10-T65:voucher:1v8LlBkl"


def test_a_rejection_is_answered_at_once_and_is_not_a_circuit_failure() -> None:
    circuit = FakeCircuit()
    client = ScriptedClient(VendorRejectedError(409, "voucher_already_redeemed", "used"))
    outcome, report = process(mediator(client, circuit))
    assert isinstance(outcome, Verdict) and outcome.error is not None
    assert outcome.error.name == "VendorRejected"
    assert (report.calls, circuit.failures, circuit.successes) == (1, 0, 1)


def test_still_failing_after_the_attempts_goes_back_to_the_queue_with_backoff() -> None:
    client = ScriptedClient(*[VendorUnavailableError("HTTP 502", status=502)] * 2)
    outcome, report = process(mediator(client), delivery=3)
    assert isinstance(outcome, Requeue)
    assert 1 <= outcome.delay_seconds <= 8
    assert outcome.reason == "HTTP 502"
    assert report.circuit_opened is True


def test_retry_after_is_honoured_for_everyone_and_is_not_a_failure() -> None:
    circuit = FakeCircuit()
    throttled = VendorUnavailableError("HTTP 429", status=429, retry_after=5)
    outcome, report = process(mediator(ScriptedClient(throttled, throttled), circuit))
    assert circuit.throttled == [5, 5]
    assert circuit.failures == 0
    assert isinstance(outcome, Requeue) and outcome.delay_seconds >= 5
    assert report.throttled


def test_a_short_pause_is_waited_out_in_the_invocation() -> None:
    class PausedOnce(FakeCircuit):
        def permit(self) -> Permit:
            if not self.throttled:
                self.throttled.append(0.4)
                return Permit(False, retry_after=0.4, reason="vendor asked us to wait (429)")
            return Permit(True)

    outcome, report = process(mediator(ScriptedClient("red-1"), PausedOnce()))
    assert outcome == Verdict(VendorStatus.SUBMITTED, vendor_references=["red-1"])
    assert report.calls == 1


def test_an_open_circuit_sends_nothing_and_requeues_until_it_may_close() -> None:
    client = ScriptedClient()
    circuit = FakeCircuit(Permit(False, retry_after=7.2, reason="circuit open"))
    outcome, report = process(mediator(client, circuit))
    assert outcome == Requeue(8, "circuit open")
    assert report.calls == 0


def test_an_exhausted_quota_requeues_for_a_second() -> None:
    outcome, _ = process(mediator(ScriptedClient(), limiter=FakeLimiter(grant=False)))
    assert outcome == Requeue(1, "vendor quota exhausted")


def test_past_the_deadline_it_is_answered_vendor_unavailable_without_a_call() -> None:
    client = ScriptedClient()
    outcome, report = process(mediator(client), age=61)
    assert isinstance(outcome, Verdict) and outcome.error is not None
    assert outcome.error.name == "VendorUnavailable"
    assert "60 s deadline" in outcome.error.reason
    assert report.calls == 0


def test_a_requeue_never_hides_a_request_past_its_deadline() -> None:
    circuit = FakeCircuit(Permit(False, retry_after=30, reason="circuit open"))
    outcome, _ = process(mediator(ScriptedClient(), circuit), age=57.5)
    assert outcome == Requeue(3, "circuit open")


def test_garbage_every_time_is_answered_as_a_protocol_error() -> None:
    client = ScriptedClient(VendorProtocolError("not JSON"), VendorProtocolError("not JSON"))
    outcome, _ = process(mediator(client))
    assert isinstance(outcome, Verdict) and outcome.error is not None
    assert outcome.error.name == "VendorProtocolError"


@pytest.mark.parametrize("points", [0, None])
def test_nothing_to_credit_is_submitted_without_a_call(points: int | None) -> None:
    detail = load_event("seed000_step1_voucher_request")["detail"]
    detail["metadata"]["type"] = "sale"
    detail["data"].update(points=points, vouchers=[])
    request = VendorEvent.model_validate(detail)
    outcome = mediator(ScriptedClient()).process(
        request, received_at=NOW, delivery=1, report=Report()
    )
    assert outcome == Verdict(VendorStatus.SUBMITTED)

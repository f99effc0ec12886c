"""What the mediator does with one delivery of a request: the vendor calls it needs, made safely,
and the outcome — an answer (``submitted`` or ``error``), "try again later" (``Requeue``), or
"this request keeps crashing the mediator" (``Park``).

* **Permanent** failures (the vendor said no: 4xx) are answered at once, never retried.
* **Transient** failures (5xx, 429, timeouts, refused connections, garbage) are retried with
  capped exponential backoff and jitter: a few times within the invocation, then by putting the
  request back in the queue with a growing delay.
* **The deadline measures the vendor's unavailability**: it counts from the first time the vendor
  failed this request (a failed call, or a circuit opened by failed calls), not from when it was
  put, so time spent waiting for the quota or lost to our own crashes never turns into a verdict
  about the vendor. And the verdict needs fresh evidence: it is only given by a delivery whose own
  attempt just failed (or that the open circuit refused).
* **"Not applied" only when it is known.** Every call is counted *in doubt* before it is made
  (`request_state`), and counted back only when the vendor's answer proves it was not handled; a
  lost answer, a read timeout, a ``502``, a malformed ``2xx`` or a delivery that died mid-call
  leave it counted. Past the deadline, ``VendorUnavailable`` is only answered when no call of the
  request is in doubt, and then the request is fenced: no delivery of it calls again. Otherwise
  it is asked again with the same idempotency key (the vendor replays the original answer, or
  applies it now) for the reconciliation window; if the vendor still cannot say, the answer is
  ``VendorOutcomeUnknown`` and an operator reconciles it.
* While the circuit is open or the vendor asked us to wait, requests are not sent and not failed:
  they go back to the queue until the circuit lets them through.
* Every call carries an idempotency key derived from the order and the item, never the task
  token (a retried step gets a new one), so however often a request is delivered, retried or
  re-sent, the vendor applies it once.
* **A vendor job holds the step open, not the mediator.** An operation the vendor accepts with
  ``202 Accepted`` (a job) is remembered with the request and the message goes back to the queue
  for ``job_poll_seconds``; each later delivery asks the job's status instead of calling again,
  under the same circuit, quota and deadline as any call, until the job succeeds (answered
  ``submitted`` with the effect's id), fails (``VendorRejected``: it applied nothing) or runs past
  ``job_timeout_seconds`` (``VendorOutcomeUnknown``: it may still apply). The order's task token
  waits in the message meanwhile: no state transition is spent on polling.
* A message that the mediator received ``max_crashes`` times without finishing a delivery (its
  invocation crashed or timed out) is parked in the dead-letter queue with the reason: a bug of
  ours is an operator's problem, never a verdict about the vendor.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from loyalty.backoff import MAX_IN_INVOCATION_WAIT_SECONDS, Backoff
from loyalty.contract import (
    MEDIATOR_MAX_CRASHES,
    REVERSALS,
    ErrorName,
    VendorRequestType,
    VendorStatus,
)
from loyalty.events import VendorError, VendorEvent
from loyalty.naming import RERUN_SEPARATOR
from vendor_mediator.request_state import RequestState, RequestStates
from vendor_mediator.resilience import CircuitBreaker, Permit, RateLimiter
from vendor_mediator.vendor_client import (
    Accepted,
    PointsOperation,
    RedemptionKind,
    VendorClient,
    VendorJob,
    VendorProtocolError,
    VendorRejectedError,
    VendorUnavailableError,
)

MIN_REQUEUE_DELAY_SECONDS = 1
MAX_REQUEUE_DELAY_SECONDS = 12 * 3600  # SQS's visibility timeout limit


@dataclass(frozen=True)
class Verdict:
    status: VendorStatus
    vendor_references: list[str] = field(default_factory=list)
    error: VendorError | None = None

    @property
    def outcome_unknown(self) -> bool:
        return self.error is not None and self.error.name == ErrorName.VENDOR_OUTCOME_UNKNOWN


@dataclass(frozen=True)
class Requeue:
    """Not now: put the request back in the queue for ``delay_seconds``."""

    delay_seconds: int
    reason: str


@dataclass(frozen=True)
class Park:
    """Take the request out of circulation (the dead-letter queue), unanswered."""

    reason: str


Outcome = Verdict | Requeue | Park


@dataclass
class Report:
    """What happened while mediating one delivery of a request (for metrics and logs)."""

    calls: int = 0
    failures: int = 0
    """Calls that failed transiently (5xx, 429, timeouts, garbage)."""
    retries: int = 0
    vendor_seconds: float = 0.0
    probed: bool = False
    circuit_opened: bool = False
    circuit_closed: bool = False
    throttled: bool = False
    job: str | None = None
    """The vendor job the request waits for (accepted or polled in this delivery)."""
    in_doubt: bool = False
    """Past the deadline, a call of the request may have been applied: no "not applied"."""
    crashes: int = 0
    """Earlier deliveries of this message that ended without the mediator finishing them."""
    vendor_message: str | None = None
    """The vendor's own text about the last failed call: for the logs only (it may quote member
    data, so it is never put in an answer)."""


@dataclass(frozen=True)
class MediationPolicy:
    attempts_per_delivery: int
    deadline_seconds: float
    backoff: Backoff
    job_poll_seconds: float
    job_timeout_seconds: float
    reconcile_seconds: float
    """How much longer a request in doubt is asked again past the deadline."""
    max_wait_seconds: float = MAX_IN_INVOCATION_WAIT_SECONDS
    max_crashes: int = MEDIATOR_MAX_CRASHES


def idempotency_key(request: VendorEvent, item: str, attempt: int = 1) -> str:
    """``<order>:<type>:<item>``, e.g. ``M101-S76-OP10-T65:voucher:1v8LlBkl``; an operator's
    re-run of the order (its ``attempt``, 2 or more) adds ``+<attempt>``. A re-run only asks for
    what the vendor has not applied (a refusal, an outage, a reversed effect), so it must not get
    the vendor's stored answer to the failed run's request back."""
    key = f"{request.data.loyalty_order_reference}:{request.metadata.type.value}:{item}"
    return key if attempt == 1 else f"{key}{RERUN_SEPARATOR}{attempt}"


POINTS_OPERATIONS: dict[VendorRequestType, PointsOperation] = {
    VendorRequestType.SALE: "credit",
    VendorRequestType.RETURN: "deduct",
    VendorRequestType.SALE_REVERSAL: "deduct",  # what the sale credited
    VendorRequestType.RETURN_REVERSAL: "credit",  # what the return deducted
}
VOUCHER_TYPES = (VendorRequestType.VOUCHER, VendorRequestType.VOUCHER_REVERSAL)
REDEMPTION_TYPES = (*VOUCHER_TYPES, VendorRequestType.REWARD, VendorRequestType.REWARD_REVERSAL)


def items_of(request: VendorEvent) -> list[str]:
    """What the request asks the vendor to do, one idempotency key item each."""
    kind = request.metadata.type
    if kind in POINTS_OPERATIONS:
        return ["points"] if request.data.points else []
    if kind in VOUCHER_TYPES:
        return [v.voucher_code for v in request.data.vouchers]
    return [r.reward_code for r in request.data.rewards]


def request_problem(request: VendorEvent) -> str | None:
    """Why the mediator cannot take this request, or None. A voucher or reward request (or its
    reversal) names exactly one code (the state machine sends one per item): the answer is one
    status, so a request of several codes could neither report a partial success nor be recorded
    per item."""
    kind = request.metadata.type
    if kind in REDEMPTION_TYPES:
        codes = items_of(request)
        if len(codes) != 1:
            return f"a {kind.value} request must name exactly one code, not {len(codes)}"
    return None


def request_key(request: VendorEvent, attempt: int = 1) -> str:
    """The request as the vendor knows it: its idempotency keys (the same for a step re-sent with
    a new token)."""
    return ",".join(idempotency_key(request, item, attempt) for item in items_of(request))


def reference_field(request: VendorEvent) -> str:
    """The id the vendor gives the request's effect (in its answer, or its job's result)."""
    kind = request.metadata.type
    if kind in POINTS_OPERATIONS:
        return "transaction_id"
    return "reversal_id" if kind in REVERSALS else "redemption_id"


def perform(request: VendorEvent, client: VendorClient, attempt: int) -> Accepted:
    """Make the vendor call the request asks for (it has one item: ``request_problem``);
    returns the vendor's reference, or the job that will apply it."""
    data = request.data
    kind = request.metadata.type
    (item,) = items_of(request)
    if kind in POINTS_OPERATIONS:
        assert data.points  # items_of names a points item only when there are points
        return client.apply_points(
            POINTS_OPERATIONS[kind],
            account=data.loyalty_reference,
            points=data.points,
            order_reference=data.loyalty_order_reference,
            merchant_reference=data.merchant_reference,
            idempotency_key=idempotency_key(request, item, attempt),
        )
    redemption: RedemptionKind = "voucher" if kind in VOUCHER_TYPES else "reward"
    act = client.reverse_redemption if kind in REVERSALS else client.redeem
    return act(
        redemption,
        code=item,
        account=data.loyalty_reference,
        order_reference=data.loyalty_order_reference,
        idempotency_key=idempotency_key(request, item, attempt),
    )


def error_verdict(name: ErrorName, reason: str) -> Verdict:
    return Verdict(VendorStatus.ERROR, error=VendorError(name=name.value, reason=reason))


class Mediator:
    def __init__(
        self,
        *,
        client: VendorClient,
        circuit: CircuitBreaker,
        limiter: RateLimiter,
        states: RequestStates,
        policy: MediationPolicy,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._client = client
        self._circuit = circuit
        self._limiter = limiter
        self._states = states
        self._policy = policy
        self._clock = clock
        self._sleep = sleep

    def process(
        self,
        request: VendorEvent,
        *,
        message_id: str,
        delivery: int,
        report: Report,
        attempt: int = 1,
    ) -> Outcome:
        """One delivery of a request (``delivery`` is SQS's receive count, from 1) of the order's
        ``attempt`` (2 or more: an operator's re-run)."""
        policy = self._policy
        if not items_of(request):
            # Nothing earned (fully discounted) or nothing to give back: no call, no quota.
            return Verdict(VendorStatus.SUBMITTED)
        key = request_key(request, attempt)
        # A first delivery has no past; a later one reads it (and learns of crashes).
        prior = self._states.load(key, message_id) if delivery > 1 else RequestState()
        if delivery > 1:
            report.crashes = max(0, delivery - 1 - prior.handled)
            if report.crashes >= policy.max_crashes:
                return Park(
                    f"the mediator received this request {delivery} times and failed to finish "
                    f"{report.crashes} of them (a crash, a timeout or a bug in the mediator, "
                    "not the vendor): parked unanswered; redrive it once the mediator is fixed"
                )
        if prior.closed:
            return _closed_verdict()
        trouble = _Trouble(prior.trouble_since)
        if prior.job is not None:
            return self._poll(request, key, message_id, prior, trouble, report)
        last_error: VendorUnavailableError | VendorProtocolError | None = None
        for tried in range(policy.attempts_per_delivery):
            if tried:
                report.retries += 1
                self._sleep(policy.backoff.delay(tried - 1))
            permit, held_back = self._admit(key, message_id, trouble, report)
            if held_back is not None:
                return held_back
            # Counted before it is made: if we die mid-call, the call stays in doubt.
            if not self._states.begin_call(key, now=self._clock()):
                return _closed_verdict()
            outcome = self._call(request, attempt, permit, report)
            if isinstance(outcome, Verdict):
                return outcome
            if isinstance(outcome, VendorJob):
                # Accepted, not done: ask again later, holding the token (the call stays in
                # doubt: the job may apply it).
                report.job = outcome.job_id
                return self._requeue(
                    key,
                    message_id,
                    trouble,
                    policy.job_poll_seconds,
                    f"the vendor's job {outcome.job_id} is running",
                    job=(outcome, self._clock()),
                )
            if not outcome.maybe_applied:
                self._states.not_handled(key)  # the vendor said so: this call did nothing
            last_error = outcome
            trouble.began(self._clock())
        assert last_error is not None
        report.retries += 1
        delay = policy.backoff.delay(delivery)
        if isinstance(last_error, VendorUnavailableError) and last_error.retry_after:
            delay = max(delay, last_error.retry_after)
        return self._requeue_or_give_up(
            key, message_id, trouble, report, _describe(last_error), delay
        )

    def _admit(
        self, key: str, message_id: str, trouble: _Trouble, report: Report
    ) -> tuple[Permit, Outcome | None]:
        """The circuit's permit and a slot of the quota for one call, or why not now."""
        permit = self._permit()
        if not permit.allowed:
            # The circuit (opened by failed calls) or the vendor's 429 holds us back.
            trouble.began(self._clock())
            return permit, self._requeue_or_give_up(
                key, message_id, trouble, report, permit.reason, permit.retry_after
            )
        if not self._limiter.acquire(self._policy.max_wait_seconds):
            # Our own quota, not the vendor's trouble: no verdict, no clock.
            return permit, self._requeue(
                key, message_id, trouble, MIN_REQUEUE_DELAY_SECONDS, "vendor quota exhausted"
            )
        return permit, None

    def _permit(self) -> Permit:
        """The circuit's permit; a short pause (the vendor's Retry-After) is waited out here
        rather than paid for with a trip through the queue."""
        permit = self._circuit.permit()
        if not permit.allowed and permit.retry_after <= self._policy.max_wait_seconds:
            self._sleep(permit.retry_after)
            permit = self._circuit.permit()
        return permit

    def _poll(
        self,
        request: VendorEvent,
        key: str,
        message_id: str,
        prior: RequestState,
        trouble: _Trouble,
        report: Report,
    ) -> Outcome:
        """Ask how the request's vendor job stands: one status call, under the circuit and the
        quota like any call; a failed one is vendor trouble like any failed call."""
        policy = self._policy
        assert prior.job is not None and prior.job_accepted_at is not None
        job = prior.job
        report.job = job.job_id
        permit, held_back = self._admit(key, message_id, trouble, report)
        if held_back is not None:
            return held_back
        try:
            with self._counted(permit, report):
                status = self._client.job_status(job, reference_field(request))
        except (VendorUnavailableError, VendorProtocolError) as err:
            report.failures += 1
            self._circuit_failed(err, permit, report)
            trouble.began(self._clock())
            delay = policy.backoff.delay(1)
            if isinstance(err, VendorUnavailableError) and err.retry_after:
                delay = max(delay, err.retry_after)
            return self._requeue_or_give_up(
                key, message_id, trouble, report, f"job {job.job_id}: {_describe(err)}", delay
            )
        report.circuit_closed |= self._circuit.record_success(permit)
        if status.state == "succeeded":
            assert status.reference is not None
            return Verdict(VendorStatus.SUBMITTED, vendor_references=[status.reference])
        if status.state == "failed":
            return error_verdict(
                ErrorName.VENDOR_REJECTED,
                f"the vendor's job {job.job_id} failed: {status.code} (it applied nothing)",
            )
        running = self._clock() - prior.job_accepted_at
        if running >= policy.job_timeout_seconds:
            report.in_doubt = True
            return error_verdict(
                ErrorName.VENDOR_OUTCOME_UNKNOWN,
                f"the vendor's job {job.job_id} was still running after {running:.0f} s (the "
                f"job timeout is {policy.job_timeout_seconds:.0f} s) and may still apply: "
                "reconcile it with the vendor",
            )
        delay = min(policy.job_poll_seconds, policy.job_timeout_seconds - running)
        return self._requeue(
            key, message_id, trouble, delay, f"the vendor's job {job.job_id} is running"
        )

    @contextmanager
    def _counted(self, permit: Permit, report: Report) -> Iterator[None]:
        """One vendor call, as the report counts it: made (a probe, if the permit is one) and
        timed, whatever it ends with."""
        report.calls += 1
        report.probed |= permit.probe
        started = self._clock()
        try:
            yield
        finally:
            report.vendor_seconds += self._clock() - started

    def _circuit_failed(self, err: Exception, permit: Permit, report: Report) -> None:
        """A failed call's word to the circuit: a 429 with Retry-After holds every consumer
        back; anything else counts as a failure."""
        if (
            isinstance(err, VendorUnavailableError)
            and err.retry_after is not None
            and err.status == 429
        ):
            report.throttled = True
            self._circuit.throttle(err.retry_after)
        else:
            report.circuit_opened |= self._circuit.record_failure(permit)

    def _call(
        self, request: VendorEvent, attempt: int, permit: Permit, report: Report
    ) -> Verdict | VendorJob | VendorUnavailableError | VendorProtocolError:
        try:
            with self._counted(permit, report):
                accepted = perform(request, self._client, attempt)
        except VendorRejectedError as err:
            # The vendor is up: it answered, and said no.
            report.circuit_closed |= self._circuit.record_success(permit)
            report.vendor_message = err.vendor_message
            return error_verdict(ErrorName.VENDOR_REJECTED, f"the vendor refused it: {err}")
        except VendorUnavailableError as err:
            report.failures += 1
            report.vendor_message = err.vendor_message
            self._circuit_failed(err, permit, report)
            return err
        except VendorProtocolError as err:
            report.failures += 1
            self._circuit_failed(err, permit, report)
            return err
        report.circuit_closed |= self._circuit.record_success(permit)
        if isinstance(accepted, VendorJob):
            return accepted
        return Verdict(VendorStatus.SUBMITTED, vendor_references=[accepted])

    def _requeue_or_give_up(
        self,
        key: str,
        message_id: str,
        trouble: _Trouble,
        report: Report,
        reason: str,
        delay: float,
    ) -> Outcome:
        """The vendor failed this delivery. Before the deadline: put it back. Past it: "not
        applied" (``VendorUnavailable``) if no call of the request is in doubt — fenced, so none
        is made afterwards; otherwise ask again until the reconciliation window is over too, then
        ``VendorOutcomeUnknown``."""
        policy = self._policy
        now = self._clock()
        assert trouble.since is not None  # both callers just met the trouble
        lasted = now - trouble.since
        if lasted < policy.deadline_seconds:
            bounded = min(delay, policy.deadline_seconds - lasted)
            return self._requeue(key, message_id, trouble, bounded, reason)
        if self._states.close(key, now=now):
            return error_verdict(
                ErrorName.VENDOR_UNAVAILABLE,
                f"the vendor was unavailable for {lasted:.0f} s, past the "
                f"{policy.deadline_seconds:.0f} s deadline, and never took the request; "
                f"last: {reason}",
            )
        report.in_doubt = True
        limit = policy.deadline_seconds + policy.reconcile_seconds
        if lasted < limit:
            return self._requeue(key, message_id, trouble, min(delay, limit - lasted), reason)
        return error_verdict(
            ErrorName.VENDOR_OUTCOME_UNKNOWN,
            "the vendor may have applied this request (an earlier call's answer was lost, "
            f"malformed or cut short) and did not say so in the {limit:.0f} s it was asked "
            f"again: reconcile it with the vendor; last: {reason}",
        )

    def _requeue(
        self,
        key: str,
        message_id: str,
        trouble: _Trouble,
        delay: float,
        reason: str,
        job: tuple[VendorJob, float] | None = None,
    ) -> Requeue:
        self._states.save(key, message_id, now=self._clock(), trouble_since=trouble.since, job=job)
        bounded = min(delay, MAX_REQUEUE_DELAY_SECONDS)
        return Requeue(max(MIN_REQUEUE_DELAY_SECONDS, math.ceil(bounded)), reason)


class _Trouble:
    """When the vendor's trouble with the request began, as known before this delivery or
    learned during it."""

    def __init__(self, since: float | None) -> None:
        self.since = since

    def began(self, at: float) -> None:
        if self.since is None:
            self.since = at


def _closed_verdict() -> Verdict:
    return error_verdict(
        ErrorName.VENDOR_UNAVAILABLE,
        "another delivery of this request already answered that the vendor, unavailable past "
        "the deadline, never took it: it is not sent any more",
    )


def _describe(error: Exception) -> str:
    if isinstance(error, VendorProtocolError):
        return f"a malformed answer: {error}"
    return str(error)

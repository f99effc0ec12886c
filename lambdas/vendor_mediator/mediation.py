"""What the mediator does with one request: the vendor calls it needs, made safely, and the
outcome — an answer (``submitted`` or ``error``) or "try again later" (``Requeue``).

* **Permanent** failures (the vendor said no: 4xx) are answered at once, never retried.
* **Transient** failures (5xx, 429, timeouts, refused connections, garbage) are retried with
  capped exponential backoff and jitter: a few times within the invocation, then by putting the
  request back in the queue with a growing delay, until the request's deadline. Only then is it
  answered ``VendorUnavailable`` (or ``VendorProtocolError`` if the vendor kept answering garbage).
* While the circuit is open or the vendor asked us to wait, requests are not sent and not failed:
  they go back to the queue until the circuit lets them through.
* Every call carries an idempotency key derived from the order and the item, never the task
  token (a retried step gets a new one), so however often a request is delivered, retried or
  re-sent, the vendor applies it once.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from loyalty.backoff import MAX_IN_INVOCATION_WAIT_SECONDS, Backoff
from loyalty.contract import ErrorName, VendorRequestType, VendorStatus
from loyalty.events import VendorError, VendorEvent
from vendor_mediator.resilience import CircuitBreaker, Permit, RateLimiter
from vendor_mediator.vendor_client import (
    VendorClient,
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


@dataclass(frozen=True)
class Requeue:
    """Not now: put the request back in the queue for ``delay_seconds``."""

    delay_seconds: int
    reason: str


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


@dataclass(frozen=True)
class MediationPolicy:
    attempts_per_delivery: int
    deadline_seconds: float
    backoff: Backoff
    max_wait_seconds: float = MAX_IN_INVOCATION_WAIT_SECONDS


def idempotency_key(request: VendorEvent, item: str) -> str:
    """``<order>:<type>:<item>``, e.g. ``M101-S76-OP10-T65:voucher:1v8LlBkl``."""
    return f"{request.data.loyalty_order_reference}:{request.metadata.type.value}:{item}"


def perform(request: VendorEvent, client: VendorClient) -> list[str]:
    """Make the vendor calls the request asks for; returns the vendor's references."""
    data = request.data
    kind = request.metadata.type
    if kind in (VendorRequestType.SALE, VendorRequestType.RETURN):
        if not data.points:
            return []  # nothing earned (fully discounted) or nothing to give back
        return [
            client.apply_points(
                "credit" if kind is VendorRequestType.SALE else "deduct",
                account=data.loyalty_reference,
                points=data.points,
                order_reference=data.loyalty_order_reference,
                merchant_reference=data.merchant_reference,
                idempotency_key=idempotency_key(request, "points"),
            )
        ]
    if kind is VendorRequestType.VOUCHER:
        codes = [v.voucher_code for v in data.vouchers]
    else:
        codes = [r.reward_code for r in data.rewards]
    return [
        client.redeem(
            "voucher" if kind is VendorRequestType.VOUCHER else "reward",
            code=code,
            account=data.loyalty_reference,
            order_reference=data.loyalty_order_reference,
            idempotency_key=idempotency_key(request, code),
        )
        for code in codes
    ]


def error_verdict(name: ErrorName, reason: str) -> Verdict:
    return Verdict(VendorStatus.ERROR, error=VendorError(name=name.value, reason=reason))


class Mediator:
    def __init__(
        self,
        *,
        client: VendorClient,
        circuit: CircuitBreaker,
        limiter: RateLimiter,
        policy: MediationPolicy,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._client = client
        self._circuit = circuit
        self._limiter = limiter
        self._policy = policy
        self._clock = clock
        self._sleep = sleep

    def process(
        self, request: VendorEvent, *, received_at: float, delivery: int, report: Report
    ) -> Verdict | Requeue:
        """One delivery of a request (``delivery`` counts from 1)."""
        policy = self._policy
        time_left = received_at + policy.deadline_seconds - self._clock()
        if time_left <= 0:
            return error_verdict(
                ErrorName.VENDOR_UNAVAILABLE,
                "the vendor could not be reached within the "
                f"{policy.deadline_seconds:.0f} s deadline",
            )
        last_error: Exception | None = None
        for attempt in range(policy.attempts_per_delivery):
            if attempt:
                report.retries += 1
                self._sleep(policy.backoff.delay(attempt - 1))
            permit = self._permit()
            if not permit.allowed:
                return self._requeue(permit.retry_after, permit.reason, time_left)
            if not self._limiter.acquire(policy.max_wait_seconds):
                return self._requeue(MIN_REQUEUE_DELAY_SECONDS, "vendor quota exhausted", time_left)
            outcome = self._call(request, permit, report)
            if isinstance(outcome, Verdict):
                return outcome
            last_error = outcome
        assert last_error is not None
        if isinstance(last_error, VendorProtocolError):
            # A vendor that answers garbage every time will not be fixed by waiting.
            return error_verdict(ErrorName.VENDOR_PROTOCOL_ERROR, str(last_error))
        report.retries += 1
        delay = policy.backoff.delay(delivery)
        if isinstance(last_error, VendorUnavailableError) and last_error.retry_after:
            delay = max(delay, last_error.retry_after)
        return self._requeue(delay, str(last_error), time_left)

    def _permit(self) -> Permit:
        """The circuit's permit; a short pause (the vendor's Retry-After) is waited out here
        rather than paid for with a trip through the queue."""
        permit = self._circuit.permit()
        if not permit.allowed and permit.retry_after <= self._policy.max_wait_seconds:
            self._sleep(permit.retry_after)
            permit = self._circuit.permit()
        return permit

    def _call(self, request: VendorEvent, permit: Permit, report: Report) -> Verdict | Exception:
        report.calls += 1
        report.probed |= permit.probe
        started = self._clock()
        try:
            references = perform(request, self._client)
        except VendorRejectedError as err:
            # The vendor is up: it answered, and said no.
            report.circuit_closed |= self._circuit.record_success(permit)
            return error_verdict(ErrorName.VENDOR_REJECTED, str(err))
        except VendorUnavailableError as err:
            report.failures += 1
            if err.retry_after is not None and err.status == 429:
                report.throttled = True
                self._circuit.throttle(err.retry_after)
            else:
                report.circuit_opened |= self._circuit.record_failure(permit)
            return err
        except VendorProtocolError as err:
            report.failures += 1
            report.circuit_opened |= self._circuit.record_failure(permit)
            return err
        finally:
            report.vendor_seconds += self._clock() - started
        report.circuit_closed |= self._circuit.record_success(permit)
        return Verdict(VendorStatus.SUBMITTED, vendor_references=references)

    @staticmethod
    def _requeue(delay: float, reason: str, time_left: float) -> Requeue:
        # Never hide a request past its deadline: it must come back to be answered.
        bounded = min(delay, time_left, MAX_REQUEUE_DELAY_SECONDS)
        return Requeue(max(MIN_REQUEUE_DELAY_SECONDS, math.ceil(bounded)), reason)

"""What the mediator knows about one request across its deliveries, its messages and its calls.

A request may take many deliveries (each failed attempt puts it back in the queue with a delay);
a delivery may never finish (the invocation crashed or timed out: SQS hands the message back when
its visibility timeout ends); and one request may travel in two messages at once (the order's
step re-sent with a new token after its heartbeat). One item per request in the mediator state
table (keyed by the request's vendor idempotency keys, which all those share) keeps:

* ``calls_in_doubt`` — calls that may have been applied. It is counted up *before* every call
  and back down when the vendor's answer proves the call was not handled (a ``503``, a ``429``, a
  refused connection); a call that crashed, timed out or was answered ambiguously stays counted.
  Written ahead, it is true even if the mediator dies mid-call, and shared by every message of
  the request, so no delivery can miss what another one sent.
* ``closed_at`` — set, once, when a delivery answers ``VendorUnavailable`` ("not applied"): only
  if no call is in doubt at that moment, and no call starts afterwards. That fence is what makes
  "not applied" true for good, even with two messages in flight.
* ``trouble_since`` — when the vendor first failed this request; the deadline counts from it.
* ``job_id``, ``job_url``, ``job_at`` — the vendor job that applies the request, once the vendor
  answered ``202 Accepted``, and when it first did: later deliveries poll it instead of calling
  again. Written with the requeue that follows the 202 (no extra write).
* ``handled#<message id>`` — the deliveries of each message the mediator finished: a message
  received more often than that crashed in between.

A request whose first call succeeds costs one write (the call's count) and no read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from vendor_mediator.resilience import StateTable
from vendor_mediator.vendor_client import VendorJob

_PREFIX = "request#"


@dataclass(frozen=True)
class RequestState:
    trouble_since: float | None = None
    handled: int = 0
    """Deliveries of this SQS message that the mediator finished (answered or put back)."""
    closed: bool = False
    """Answered "not applied" by some delivery: no call may be made any more."""
    job: VendorJob | None = None
    job_accepted_at: float | None = None


class RequestStates:
    def __init__(self, *, client: Any, table: str, ttl_seconds: int) -> None:
        self._table = StateTable(client, table)
        self._ttl = ttl_seconds

    def load(self, request_key: str, message_id: str) -> RequestState:
        item = self._table.get(_PREFIX + request_key)
        return RequestState(
            trouble_since=float(item["trouble_since"]["N"]) if "trouble_since" in item else None,
            handled=int(item.get(_handled(message_id), {"N": "0"})["N"]),
            closed="closed_at" in item,
            job=VendorJob(item["job_id"]["S"], item["job_url"]["S"]) if "job_id" in item else None,
            job_accepted_at=float(item["job_at"]["N"]) if "job_at" in item else None,
        )

    def begin_call(self, request_key: str, *, now: float) -> bool:
        """Count a call that is about to be made. False, counting nothing, if the request was
        already answered "not applied": it must not be sent any more."""
        updated = self._table.update(
            _PREFIX + request_key,
            "ADD calls_in_doubt :one SET expiration = :expires",
            {":one": {"N": "1"}, ":expires": self._expiry(now)},
            condition="attribute_not_exists(closed_at)",
        )
        return updated is not None

    def not_handled(self, request_key: str) -> None:
        """The vendor's answer proves the last counted call was not handled."""
        self._table.update(
            _PREFIX + request_key, "ADD calls_in_doubt :minus", {":minus": {"N": "-1"}}
        )

    def close(self, request_key: str, *, now: float) -> bool:
        """Fence the request as "not applied", if no call of it is in doubt. False if one is."""
        closed = self._table.update(
            _PREFIX + request_key,
            "SET closed_at = :now, expiration = :expires",
            {":now": _number(now), ":expires": self._expiry(now), ":zero": {"N": "0"}},
            condition="attribute_not_exists(calls_in_doubt) OR calls_in_doubt <= :zero",
        )
        return closed is not None

    def save(
        self,
        request_key: str,
        message_id: str,
        *,
        now: float,
        trouble_since: float | None,
        job: tuple[VendorJob, float] | None = None,
    ) -> None:
        """Count one finished delivery of ``message_id`` and remember when the vendor's trouble
        began (the earliest time wins: two messages of the request may both write), and the
        vendor's job with when it was accepted (the first one recorded stays)."""
        sets = ["expiration = :expires"]
        values: dict[str, Any] = {":one": {"N": "1"}, ":expires": self._expiry(now)}
        if trouble_since is not None:
            sets.append("trouble_since = if_not_exists(trouble_since, :trouble)")
            values[":trouble"] = _number(trouble_since)
        if job is not None:
            accepted, at = job
            sets += [
                "job_id = if_not_exists(job_id, :job_id)",
                "job_url = if_not_exists(job_url, :job_url)",
                "job_at = if_not_exists(job_at, :job_at)",
            ]
            values |= {
                ":job_id": {"S": accepted.job_id},
                ":job_url": {"S": accepted.status_url},
                ":job_at": _number(at),
            }
        self._table.update(
            _PREFIX + request_key,
            f"SET {', '.join(sets)} ADD #handled :one",
            values,
            names={"#handled": _handled(message_id)},
        )

    def _expiry(self, now: float) -> dict[str, str]:
        return {"N": str(int(now) + self._ttl)}


def _handled(message_id: str) -> str:
    return f"handled#{message_id}"


def _number(value: float) -> dict[str, str]:
    return {"N": repr(round(value, 3))}

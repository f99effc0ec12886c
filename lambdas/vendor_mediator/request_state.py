"""What the mediator remembers about one request between its deliveries.

A request may take many deliveries (each failed attempt puts it back in the queue with a delay),
and a delivery may never finish (the invocation crashed or timed out: SQS hands the message back
when its visibility timeout ends). Two facts must survive that, in the mediator state table:

* ``trouble_since`` — when the vendor first failed this request (a failed call, or a circuit
  opened by failed calls). The deadline counts from there: it measures the vendor's
  unavailability, not the time the request waited for the quota or lost to our own crashes.
* ``in_doubt`` — an attempt may have been applied (a lost answer, a read timeout, a ``502``, a
  malformed ``2xx``, or a delivery that crashed mid-call). Such a request is never answered "not
  applied": it is asked again (same idempotency key) until the vendor says what happened, for
  the reconciliation window; past it, the answer is ``VendorOutcomeUnknown``.

One item per request (its vendor idempotency keys: a step re-sent with a new token is the same
request to the vendor), with a counter per SQS message of the deliveries the mediator finished:
a message received more often than that crashed in between. Nothing is read or written while
the first attempt of a request succeeds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from vendor_mediator.resilience import StateTable

_PREFIX = "request#"


@dataclass(frozen=True)
class RequestState:
    trouble_since: float | None = None
    in_doubt: bool = False
    handled: int = 0
    """Deliveries of this SQS message that the mediator finished (answered or put back)."""


class RequestStates:
    def __init__(self, *, client: Any, table: str, ttl_seconds: int) -> None:
        self._table = StateTable(client, table)
        self._ttl = ttl_seconds

    def load(self, request_key: str, message_id: str) -> RequestState:
        item = self._table.get(_PREFIX + request_key)
        return RequestState(
            trouble_since=float(item["trouble_since"]["N"]) if "trouble_since" in item else None,
            in_doubt="in_doubt_since" in item,
            handled=int(item.get(_handled(message_id), {"N": "0"})["N"]),
        )

    def save(
        self,
        request_key: str,
        message_id: str,
        *,
        now: float,
        trouble_since: float | None,
        in_doubt: bool,
    ) -> None:
        """Count one finished delivery of ``message_id`` and remember the request's trouble (the
        earliest time wins: concurrent deliveries of two messages may both write)."""
        sets = ["expiration = :expires"]
        values: dict[str, Any] = {":one": {"N": "1"}, ":expires": {"N": str(int(now) + self._ttl)}}
        if trouble_since is not None:
            sets.append("trouble_since = if_not_exists(trouble_since, :trouble)")
            values[":trouble"] = {"N": repr(round(trouble_since, 3))}
        if in_doubt:
            sets.append("in_doubt_since = if_not_exists(in_doubt_since, :now)")
            values[":now"] = {"N": repr(round(now, 3))}
        self._table.update(
            _PREFIX + request_key,
            f"SET {', '.join(sets)} ADD #handled :one",
            values,
            names={"#handled": _handled(message_id)},
        )


def _handled(message_id: str) -> str:
    return f"handled#{message_id}"

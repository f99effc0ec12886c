"""Shared protections of the vendor: a circuit breaker, a request quota and backoff.

The mediator runs as several concurrent Lambda invocations, so whatever protects the vendor must
be shared: the breaker's state and the quota's counters live in one DynamoDB table (the mediator
state table), changed only with conditional writes so concurrent consumers never overwrite each
other's decisions.

Circuit breaker (one item, ``circuit#<name>``):

* CLOSED — calls go through; outcomes are counted in a tumbling window. When at least
  ``min_requests`` calls in the window failed at a rate of ``failure_rate`` or more, it OPENs.
* OPEN — no calls for ``cooldown_seconds``; requests wait in the queue.
* HALF_OPEN — after the cool-down one consumer (the one whose conditional write wins) makes a
  probe call; success CLOSEs the circuit, failure OPENs it again. A probe whose consumer died is
  taken over after ``probe_lease_seconds``.

A vendor ``429`` with ``Retry-After`` pauses every consumer until then (``throttle``), without
counting as a failure: the vendor is healthy, we are just too fast.

Quota (one item, ``rate#<name>``): at most ``per_second`` calls in any one-second window, as a
strict vendor counts them. The generic cell rate algorithm's virtual scheduling: the item keeps
the time of the next free slot (``tat``); a consumer takes the slot at ``max(tat, now)`` with one
conditional write that moves ``tat`` one interval on, then sleeps until its slot. There is no
burst allowance, and the interval is ``(1 + lateness) / per_second``: a call may reach the vendor
up to ``lateness`` seconds after its slot and a one-second window still holds at most
``per_second`` calls. With the default 50 ms that is 95.2% of the quota under backlog. A
quarter of that lateness may be spent taking a slot that passed a moment ago (a consumer back
from its last call just after the quota's current slot), so the write a consumer tries first
(the kind that won its last slot, if that was within a second) takes the slot: a busy quota
costs one write per call, not two, and so does an idle one. A slot further away than the caller
may wait is not taken.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from botocore.exceptions import ClientError

from loyalty.adapters.dynamodb import is_condition_failure

Clock = Callable[[], float]


class CircuitState(StrEnum):
    CLOSED = "CLOSED"
    OPEN = "OPEN"
    HALF_OPEN = "HALF_OPEN"


@dataclass(frozen=True)
class Permit:
    allowed: bool
    probe: bool = False
    retry_after: float = 0.0
    reason: str = ""


def _number(item: dict[str, Any], name: str, default: float = 0.0) -> float:
    value = item.get(name)
    return float(value["N"]) if value else default


class StateTable:
    def __init__(self, client: Any, table: str) -> None:
        self.client = client
        self.table = table

    def get(self, pk: str) -> dict[str, Any]:
        item: dict[str, Any] = self.client.get_item(
            TableName=self.table, Key={"pk": {"S": pk}}, ConsistentRead=True
        ).get("Item", {})
        return item

    def update(
        self,
        pk: str,
        expression: str,
        values: dict[str, Any],
        *,
        condition: str | None = None,
        names: dict[str, str] | None = None,
    ) -> dict[str, Any] | None:
        """Apply the update; None if the condition did not hold."""
        args: dict[str, Any] = {
            "TableName": self.table,
            "Key": {"pk": {"S": pk}},
            "UpdateExpression": expression,
            "ExpressionAttributeValues": values,
            "ReturnValues": "ALL_NEW",
        }
        if condition:
            args["ConditionExpression"] = condition
        if names:
            args["ExpressionAttributeNames"] = names
        try:
            attributes: dict[str, Any] = self.client.update_item(**args)["Attributes"]
        except ClientError as err:
            if is_condition_failure(err):
                return None
            raise
        return attributes


def _n(value: float) -> dict[str, str]:
    return {"N": repr(round(value, 3))}


def _us(value: float) -> dict[str, str]:
    """A time to the microsecond (slots at high quotas are a few milliseconds apart)."""
    return {"N": f"{value:.6f}"}


class CircuitBreaker:
    def __init__(
        self,
        *,
        client: Any,
        table: str,
        failure_rate: float,
        min_requests: int,
        window_seconds: float,
        cooldown_seconds: float,
        probe_lease_seconds: float,
        name: str = "vendor",
        clock: Clock = time.time,
    ) -> None:
        self._table = StateTable(client, table)
        self._pk = f"circuit#{name}"
        self._failure_rate = failure_rate
        self._min_requests = min_requests
        self._window = window_seconds
        self._cooldown = cooldown_seconds
        self._lease = probe_lease_seconds
        self._clock = clock

    def state(self) -> CircuitState:
        item = self._table.get(self._pk)
        return CircuitState(item["state"]["S"]) if "state" in item else CircuitState.CLOSED

    def permit(self) -> Permit:
        now = self._clock()
        item = self._table.get(self._pk)
        throttled_until = _number(item, "throttled_until")
        if throttled_until > now:
            return Permit(
                False, retry_after=throttled_until - now, reason="vendor asked us to wait (429)"
            )
        state = CircuitState(item["state"]["S"]) if "state" in item else CircuitState.CLOSED
        if state is CircuitState.CLOSED:
            return Permit(True)
        if state is CircuitState.OPEN:
            opened_at = _number(item, "opened_at")
            reopens = opened_at + self._cooldown
            if now < reopens:
                return Permit(False, retry_after=reopens - now, reason="circuit open")
            taken = self._table.update(
                self._pk,
                "SET #state = :half, probe_until = :lease",
                {
                    ":half": {"S": CircuitState.HALF_OPEN},
                    ":lease": _n(now + self._lease),
                    ":open": {"S": CircuitState.OPEN},
                    ":opened": item["opened_at"],
                },
                condition="#state = :open AND opened_at = :opened",
                names={"#state": "state"},
            )
            if taken is not None:
                return Permit(True, probe=True)
            return Permit(
                False, retry_after=self._lease, reason="circuit half-open, probe in flight"
            )
        probe_until = _number(item, "probe_until")
        if probe_until <= now:
            taken = self._table.update(
                self._pk,
                "SET probe_until = :lease",
                {
                    ":lease": _n(now + self._lease),
                    ":half": {"S": CircuitState.HALF_OPEN},
                    ":old": item.get("probe_until", _n(0)),
                },
                condition="#state = :half AND probe_until = :old",
                names={"#state": "state"},
            )
            if taken is not None:
                return Permit(True, probe=True)
        return Permit(
            False,
            retry_after=max(1.0, probe_until - now),
            reason="circuit half-open, probe in flight",
        )

    def record_success(self, permit: Permit) -> bool:
        """Count a successful call. Returns True if this success (a probe's) closed the circuit."""
        now = self._clock()
        if permit.probe:
            closed = self._table.update(
                self._pk,
                "SET #state = :closed, window_start = :now, requests = :zero, failures = :zero",
                {
                    ":closed": {"S": CircuitState.CLOSED},
                    ":now": _n(now),
                    ":zero": _n(0),
                    ":half": {"S": CircuitState.HALF_OPEN},
                },
                condition="#state = :half",
                names={"#state": "state"},
            )
            return closed is not None
        self._count(now, failed=False)
        return False

    def record_failure(self, permit: Permit) -> bool:
        """Count a failed call. Returns True if this failure opened the circuit."""
        now = self._clock()
        if permit.probe:
            self._open(now, from_state=CircuitState.HALF_OPEN)
            return True
        requests, failures = self._count(now, failed=True)
        if requests >= self._min_requests and failures / requests >= self._failure_rate:
            return self._open(now, from_state=CircuitState.CLOSED)
        return False

    def throttle(self, seconds: float) -> None:
        """Make every consumer wait ``seconds`` (the vendor's Retry-After)."""
        until = self._clock() + seconds
        self._table.update(
            self._pk,
            "SET throttled_until = :until",
            {":until": _n(until)},
            condition="attribute_not_exists(throttled_until) OR throttled_until < :until",
        )

    # -- helpers ------------------------------------------------------------------------------

    def _open(self, now: float, *, from_state: CircuitState) -> bool:
        condition = "#state = :from"
        if from_state is CircuitState.CLOSED:
            condition = "attribute_not_exists(#state) OR #state = :from"
        return (
            self._table.update(
                self._pk,
                "SET #state = :open, opened_at = :now",
                {":open": {"S": CircuitState.OPEN}, ":now": _n(now), ":from": {"S": from_state}},
                condition=condition,
                names={"#state": "state"},
            )
            is not None
        )

    def _count(self, now: float, *, failed: bool) -> tuple[int, int]:
        """Add one call (and maybe one failure) to the current window, starting a new window
        when the current one is over. Returns the window's (requests, failures)."""
        values = {":one": _n(1), ":failed": _n(int(failed)), ":floor": _n(now - self._window)}
        for _ in range(3):
            counted = self._table.update(
                self._pk,
                "ADD requests :one, failures :failed",
                values,
                condition="window_start >= :floor",
            )
            if counted is None:
                counted = self._table.update(
                    self._pk,
                    "SET window_start = :now, requests = :one, failures = :failed",
                    {**values, ":now": _n(now)},
                    condition="attribute_not_exists(window_start) OR window_start < :floor",
                )
            if counted is not None:
                return int(_number(counted, "requests")), int(_number(counted, "failures"))
        return 0, 0  # lost three races in a row: skip counting this one


_BUSY_HORIZON_SECONDS = 1.0
"""A consumer that took a slot of a busy quota less than this long ago expects it still busy."""


class RateLimiter:
    """At most ``per_second`` vendor calls in any one-second window, across every consumer (see
    the module's docstring)."""

    def __init__(
        self,
        *,
        client: Any,
        table: str,
        per_second: float,
        lateness_seconds: float = 0.05,
        name: str = "vendor",
        clock: Clock = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not (per_second > 0 and math.isfinite(per_second)):
            raise ValueError(f"per_second must be a finite number > 0, not {per_second!r}")
        self._table = StateTable(client, table)
        self._pk = f"rate#{name}"
        # Rounded up to the microsecond: a shorter interval would let more calls through.
        self.interval = math.ceil((1 + lateness_seconds) / per_second * 1e6) / 1e6
        """Seconds between two slots."""
        self.late_slot_seconds = lateness_seconds / 4
        """How long ago a slot may have passed and still be taken (without waiting)."""
        self._clock = clock
        self._sleep = sleep
        # Which write to try first: the one that won last time, if that was not long ago.
        self._took_next = False
        self._last_slot = -math.inf

    def acquire(self, max_wait_seconds: float) -> bool:
        """Take the next free slot and sleep until it comes. Returns False, taking nothing, if
        the next free slot is more than ``max_wait_seconds`` away."""
        for _ in range(8):  # each round loses only to another consumer's win
            now = self._clock()
            earliest, latest = now - self.late_slot_seconds, now + max_wait_seconds
            busy = self._took_next and now - self._last_slot < _BUSY_HORIZON_SECONDS
            writes = (self._take_next, self._take_now)
            for write in writes if busy else reversed(writes):
                slot = write(now, earliest=earliest, latest=latest)
                if slot is not None:
                    self._took_next, self._last_slot = write == self._take_next, slot
                    if slot > now:
                        self._sleep(slot - now)
                    return True
            if self._next_slot() > latest:
                return False
        return False  # heavy contention: the caller requeues, as for an exhausted quota

    def _take_next(self, now: float, *, earliest: float, latest: float) -> float | None:
        """The quota is in use: take the slot at ``tat`` if it is close enough."""
        taken = self._table.update(
            self._pk,
            "SET tat = tat + :interval, expiration = :expires",
            {
                ":interval": _us(self.interval),
                ":earliest": _us(earliest),
                ":latest": _us(latest),
                ":expires": {"N": str(int(now) + 3600)},
            },
            condition="tat >= :earliest AND tat <= :latest",
        )
        return None if taken is None else _number(taken, "tat") - self.interval

    def _take_now(self, now: float, *, earliest: float, latest: float) -> float | None:
        """The quota is idle: take the slot at ``now``."""
        taken = self._table.update(
            self._pk,
            "SET tat = :next, expiration = :expires",
            {
                ":earliest": _us(earliest),
                ":next": _us(now + self.interval),
                ":expires": {"N": str(int(now) + 3600)},
            },
            condition="attribute_not_exists(tat) OR tat < :earliest",
        )
        return None if taken is None else now

    def _next_slot(self) -> float:
        return _number(self._table.get(self._pk), "tat")

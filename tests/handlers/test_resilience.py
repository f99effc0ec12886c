"""Circuit breaker and quota, shared through DynamoDB (moto), with a controlled clock."""

from __future__ import annotations

import bisect
import math
import random
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from vendor_mediator.resilience import CircuitBreaker, CircuitState, Permit, RateLimiter

from tests.handlers.conftest import LoadHandler  # noqa: F401 - fixtures come from conftest


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


class CountingClient:
    """A DynamoDB client that counts the writes made through it."""

    def __init__(self) -> None:
        self._client = boto3.client("dynamodb")
        self.writes = 0

    def update_item(self, **kwargs: Any) -> Any:
        self.writes += 1
        return self._client.update_item(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


@pytest.fixture
def clock() -> Clock:
    return Clock()


def circuit_on(client: Any, table: str, clock: Clock, *, min_requests: int = 4) -> CircuitBreaker:
    """A consumer's breaker: opens at 50% failures of at least ``min_requests`` calls in 30 s,
    cools down for 10 s, leases a probe for 5 s."""
    return CircuitBreaker(
        client=client,
        table=table,
        failure_rate=0.5,
        min_requests=min_requests,
        window_seconds=30,
        cooldown_seconds=10,
        probe_lease_seconds=5,
        clock=clock,
    )


@pytest.fixture
def breaker(state_table: str, clock: Clock) -> Callable[[], CircuitBreaker]:
    """Each call is another consumer sharing the same state."""
    return lambda: circuit_on(boto3.client("dynamodb"), state_table, clock)


def test_it_opens_when_enough_calls_fail_and_blocks_every_consumer(
    breaker: Callable[[], CircuitBreaker],
) -> None:
    first, second = breaker(), breaker()
    permit = first.permit()
    first.record_success(permit)
    opened = [second.record_failure(second.permit()) for _ in range(3)]

    # 3 failures of 4 calls: 75% >= 50% with the minimum of 4 calls reached on the last one
    assert opened == [False, False, True]
    assert first.state() is CircuitState.OPEN
    denied = first.permit()
    assert (denied.allowed, denied.reason) == (False, "circuit open")
    assert 9.9 < denied.retry_after <= 10


def test_too_few_calls_never_open_it(breaker: Callable[[], CircuitBreaker]) -> None:
    circuit = breaker()
    for _ in range(3):
        circuit.record_failure(circuit.permit())
    assert circuit.state() is CircuitState.CLOSED


@pytest.mark.parametrize(
    ("successes", "failures", "opened", "state"),
    [
        (6, 4, [False] * 4, CircuitState.CLOSED),  # 4 of 10 calls failed: 40% < 50%
        (2, 2, [False, True], CircuitState.OPEN),  # 2 of 4: exactly 50%, the minimum of 4 met
    ],
)
def test_it_opens_at_its_failure_rate_and_not_below(
    breaker: Callable[[], CircuitBreaker],
    successes: int,
    failures: int,
    opened: list[bool],
    state: CircuitState,
) -> None:
    circuit = breaker()
    for _ in range(successes):
        circuit.record_success(circuit.permit())
    assert [circuit.record_failure(circuit.permit()) for _ in range(failures)] == opened
    assert circuit.state() is state


def test_only_a_probes_success_says_it_closed_the_circuit(
    breaker: Callable[[], CircuitBreaker], clock: Clock
) -> None:
    circuit = breaker()
    assert circuit.record_success(circuit.permit()) is False  # closed already: nothing closed
    _open(circuit)
    clock.sleep(10)
    assert circuit.record_success(circuit.permit()) is True


def test_the_whole_cycle_closed_open_probe_closed_failing_again(
    breaker: Callable[[], CircuitBreaker], clock: Clock
) -> None:
    circuit = breaker()
    _open(circuit)
    assert circuit.permit().allowed is False
    clock.sleep(10)
    assert circuit.record_success(circuit.permit()) is True
    assert circuit.state() is CircuitState.CLOSED
    # a new window: it takes the minimum of calls again before it can open
    assert [circuit.record_failure(circuit.permit()) for _ in range(4)] == [False] * 3 + [True]
    denied = circuit.permit()
    assert (denied.allowed, denied.reason) == (False, "circuit open")


def test_failures_of_an_old_window_do_not_count(
    breaker: Callable[[], CircuitBreaker], clock: Clock
) -> None:
    circuit = breaker()
    for _ in range(3):
        circuit.record_failure(circuit.permit())
    clock.sleep(31)
    for _ in range(3):
        circuit.record_success(circuit.permit())
    circuit.record_failure(circuit.permit())
    assert circuit.state() is CircuitState.CLOSED


def _open(circuit: CircuitBreaker) -> None:
    for _ in range(4):
        circuit.record_failure(circuit.permit())
    assert circuit.state() is CircuitState.OPEN


def _probing(
    breaker: Callable[[], CircuitBreaker], clock: Clock
) -> tuple[CircuitBreaker, CircuitBreaker, float]:
    """Two consumers; the circuit opened and cooled down, and the first took the probe (its
    lease: 5 s from the time returned)."""
    first, second = breaker(), breaker()
    _open(first)
    clock.sleep(10)
    probed_at = clock.now
    assert first.permit().probe
    return first, second, probed_at


def test_after_the_cooldown_exactly_one_consumer_probes(
    breaker: Callable[[], CircuitBreaker], clock: Clock
) -> None:
    first, second = breaker(), breaker()
    _open(first)
    clock.sleep(10)

    probe = first.permit()
    other = second.permit()

    assert (probe.allowed, probe.probe) == (True, True)
    assert first.state() is CircuitState.HALF_OPEN
    assert (other.allowed, other.reason) == (False, "circuit half-open, probe in flight")


def test_a_successful_probe_closes_it(breaker: Callable[[], CircuitBreaker], clock: Clock) -> None:
    circuit = breaker()
    _open(circuit)
    clock.sleep(10)
    circuit.record_success(circuit.permit())

    assert circuit.state() is CircuitState.CLOSED
    # the old failures are forgotten: one new failure does not reopen it
    circuit.record_failure(circuit.permit())
    assert circuit.state() is CircuitState.CLOSED


def test_a_failed_probe_opens_it_for_another_cooldown(
    breaker: Callable[[], CircuitBreaker], clock: Clock
) -> None:
    circuit = breaker()
    _open(circuit)
    clock.sleep(10)
    assert circuit.record_failure(circuit.permit()) is True

    assert circuit.state() is CircuitState.OPEN
    clock.sleep(5)
    assert circuit.permit().allowed is False


def test_a_probe_whose_consumer_died_is_taken_over_after_its_lease(
    breaker: Callable[[], CircuitBreaker], clock: Clock
) -> None:
    _, second, _ = _probing(breaker, clock)  # ... and that consumer never reports back
    clock.sleep(6)

    takeover = second.permit()

    assert (takeover.allowed, takeover.probe) == (True, True)


def test_a_probe_is_taken_over_the_moment_its_lease_ends(
    breaker: Callable[[], CircuitBreaker], clock: Clock
) -> None:
    _, second, probed_at = _probing(breaker, clock)

    clock.now = probed_at + 4.5
    assert second.permit().allowed is False
    clock.now = probed_at + 5  # the lease (5 s) is over
    assert second.permit() == Permit(True, probe=True)


@pytest.mark.parametrize(("lease_left", "retry_after"), [(4.5, 4.5), (0.2, 1.0)])
def test_while_a_probe_is_in_flight_others_come_back_when_its_lease_ends(
    breaker: Callable[[], CircuitBreaker], clock: Clock, lease_left: float, retry_after: float
) -> None:
    """... but not sooner than a second from now (no busy loop at the lease's last moments)."""
    _, second, probed_at = _probing(breaker, clock)
    clock.now = probed_at + 5 - lease_left

    refused = second.permit()
    assert (refused.allowed, refused.reason) == (False, "circuit half-open, probe in flight")
    assert refused.retry_after == pytest.approx(retry_after)


class StaleReadClient:
    """A consumer that read the circuit a moment before another consumer changed it: its reads
    return what the table held when it was made; its writes go to the real table."""

    def __init__(self) -> None:
        self._client = boto3.client("dynamodb")
        self._snapshot: dict[str, Any] = {}

    def freeze(self, table: str) -> None:
        self._snapshot = self._client.get_item(
            TableName=table, Key={"pk": {"S": "circuit#vendor"}}, ConsistentRead=True
        )

    def get_item(self, **kwargs: Any) -> Any:
        return self._snapshot

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def test_of_two_consumers_racing_for_the_probe_the_loser_is_told_to_wait_for_it(
    breaker: Callable[[], CircuitBreaker], state_table: str, clock: Clock
) -> None:
    winner = breaker()
    _open(winner)
    clock.sleep(10)
    stale = StaleReadClient()
    stale.freeze(state_table)  # it saw the circuit OPEN and its cool-down over ...
    assert winner.permit().probe  # ... and the other consumer took the probe just before it
    loser = circuit_on(stale, state_table, clock)

    refused = loser.permit()
    assert refused == Permit(False, retry_after=5, reason="circuit half-open, probe in flight")


def test_a_taken_over_probe_has_a_lease_of_its_own(
    breaker: Callable[[], CircuitBreaker], clock: Clock
) -> None:
    first, second, third = breaker(), breaker(), breaker()
    _open(first)
    clock.sleep(10)
    assert first.permit().probe  # its consumer dies
    clock.sleep(6)
    assert second.permit().probe  # taken over: a new lease of 5 s from now
    clock.sleep(1)

    assert third.permit().allowed is False  # one probe at a time, still


class RecordingClient(CountingClient):
    """Keeps the arguments of every read."""

    def __init__(self) -> None:
        super().__init__()
        self.reads: list[dict[str, Any]] = []

    def get_item(self, **kwargs: Any) -> Any:
        self.reads.append(kwargs)
        return self._client.get_item(**kwargs)


def test_the_shared_state_is_read_strongly_consistent(state_table: str, clock: Clock) -> None:
    """An eventually consistent read may miss another consumer's write of a moment ago (an
    opened circuit, a taken slot). moto reads consistently whatever is asked: the ask is
    checked here."""
    client = RecordingClient()
    circuit = circuit_on(client, state_table, clock, min_requests=1)
    limiter = RateLimiter(client=client, table=state_table, per_second=1, clock=clock)
    circuit.record_failure(circuit.permit())
    circuit.state()
    limiter.acquire(max_wait_seconds=0)
    limiter.acquire(max_wait_seconds=0)  # refused: reads the next slot
    assert len(client.reads) >= 3
    assert all(read["ConsistentRead"] is True for read in client.reads)


def test_of_two_consumers_racing_to_take_over_a_dead_probe_only_one_wins(
    breaker: Callable[[], CircuitBreaker], state_table: str, clock: Clock
) -> None:
    _, winner, _ = _probing(breaker, clock)  # the probing consumer dies
    clock.sleep(6)
    stale = StaleReadClient()
    stale.freeze(state_table)  # it saw the lease over too ...
    assert winner.permit().probe  # ... but the other consumer took the probe over first
    loser = circuit_on(stale, state_table, clock)

    refused = loser.permit()
    assert (refused.allowed, refused.probe) == (False, False)


def test_throttle_pauses_every_consumer_without_counting_a_failure(
    breaker: Callable[[], CircuitBreaker], clock: Clock
) -> None:
    first, second = breaker(), breaker()
    first.throttle(2.5)

    paused = second.permit()
    assert (paused.allowed, paused.reason) == (False, "vendor asked us to wait (429)")
    assert paused.retry_after == pytest.approx(2.5)
    clock.sleep(2.5)
    assert second.permit() == Permit(True)
    assert first.state() is CircuitState.CLOSED


def _limiters(state_table: str, clock: Clock, per_second: float, count: int = 2) -> list[Any]:
    """``count`` consumers sharing one quota."""
    return [
        RateLimiter(
            client=boto3.client("dynamodb"),
            table=state_table,
            per_second=per_second,
            clock=clock,
            sleep=clock.sleep,
        )
        for _ in range(count)
    ]


def test_consumers_sharing_the_quota_get_slots_one_interval_apart(
    state_table: str, clock: Clock
) -> None:
    limiters = _limiters(state_table, clock, per_second=3)
    interval = limiters[0].interval
    assert interval == pytest.approx(1.05 / 3, abs=1e-6)
    assert 1 / interval >= 0.95 * 3  # a backlog uses at least 95% of the quota
    started = clock.now
    granted_at = []
    for i in range(7):
        assert limiters[i % 2].acquire(max_wait_seconds=10) is True
        granted_at.append(clock.now - started)
    assert granted_at == pytest.approx([i * interval for i in range(7)], abs=1e-5)


def test_no_burst_after_a_pause(state_table: str, clock: Clock) -> None:
    """A quota unused for a while does not save up calls: the next two are still one interval
    apart (a burst would break the vendor's one-second window)."""
    limiter = _limiters(state_table, clock, per_second=5, count=1)[0]
    assert limiter.acquire(max_wait_seconds=0) is True
    clock.sleep(60)
    first = clock.now
    assert limiter.acquire(max_wait_seconds=1) is True
    assert clock.now == first
    assert limiter.acquire(max_wait_seconds=1) is True
    assert clock.now - first == pytest.approx(limiter.interval, abs=1e-5)


def test_a_slot_further_than_the_caller_may_wait_is_not_taken(
    state_table: str, clock: Clock
) -> None:
    first, second = _limiters(state_table, clock, per_second=2)
    assert first.acquire(max_wait_seconds=0) is True
    assert second.acquire(max_wait_seconds=0) is False  # the next slot is 0.525 s away
    assert second.acquire(max_wait_seconds=0.5) is False
    # nothing was reserved by the refusals: the next slot is still the first one free
    started = clock.now
    assert second.acquire(max_wait_seconds=0.6) is True
    assert clock.now - started == pytest.approx(first.interval, abs=1e-5)


def test_a_quota_below_one_per_second_spaces_calls_further(state_table: str, clock: Clock) -> None:
    limiter = _limiters(state_table, clock, per_second=0.5, count=1)[0]
    assert limiter.interval == pytest.approx(2.1)
    assert limiter.acquire(max_wait_seconds=0) is True
    clock.sleep(1)
    assert limiter.acquire(max_wait_seconds=0) is False
    assert limiter.acquire(max_wait_seconds=1.1) is True


@pytest.mark.parametrize("per_second", [0.5, 3, 20, 500])
def test_no_one_second_window_holds_more_than_the_quota_even_with_late_calls(
    state_table: str, clock: Clock, per_second: float
) -> None:
    """Consumers take slots in turn, half of them coming back just after a slot passed, and
    each call reaches the vendor late by whatever of the limiter's lateness budget taking a
    passed slot left. Every one-second window the vendor could count, sliding, holds at most
    the quota."""
    rng = random.Random(7)
    limiters = _limiters(state_table, clock, per_second=per_second, count=4)
    budget = 0.05 - limiters[0].late_slot_seconds
    arrivals = []
    calls = max(10, int(per_second * 4))
    for i in range(calls):
        if i % 2:  # back just after the last slot passed (which may be the slot it takes)
            clock.sleep(limiters[0].interval + rng.uniform(0, limiters[0].late_slot_seconds))
        assert limiters[i % 4].acquire(max_wait_seconds=3600) is True
        arrivals.append(clock.now + rng.uniform(0, budget))
    arrivals.sort()
    allowed = max(1, math.floor(per_second))
    for i, start in enumerate(arrivals):
        in_window = bisect.bisect_left(arrivals, start + 1.0) - i
        assert in_window <= allowed, (start, in_window)


def test_a_busy_quota_costs_one_write_per_call_and_an_idle_one_too(
    state_table: str, clock: Clock
) -> None:
    """Under backlog, consumers come back from their calls around the quota's current slot, a
    little before or after it; at a trickle, each call finds the quota idle. Either way the
    first write a consumer tries is the one that takes its slot."""
    client = CountingClient()
    limiters = [
        RateLimiter(client=client, table=state_table, per_second=20, clock=clock, sleep=clock.sleep)
        for _ in range(5)
    ]
    rng = random.Random(11)
    for i in range(200):  # backlog: five consumers, each call a little over five slots of work
        clock.sleep(rng.uniform(0, limiters[0].interval / 2))
        assert limiters[i % 5].acquire(max_wait_seconds=5) is True
    assert client.writes == 200 + 5  # the first slot of each consumer: it knew nothing yet
    client.writes = 0
    for i in range(20):  # a trickle: one call every two seconds
        clock.sleep(2)
        assert limiters[i % 5].acquire(max_wait_seconds=5) is True
    assert client.writes == 20


def test_a_consumer_back_after_more_than_a_second_expects_an_idle_quota(
    state_table: str, clock: Clock
) -> None:
    client = CountingClient()
    limiter = RateLimiter(
        client=client, table=state_table, per_second=20, clock=clock, sleep=clock.sleep
    )
    for _ in range(3):  # back to back: the second and third take the quota's next slot
        assert limiter.acquire(max_wait_seconds=5) is True
    clock.sleep(1.5)  # longer than a busy quota stays busy
    client.writes = 0

    assert limiter.acquire(max_wait_seconds=5) is True
    assert client.writes == 1  # took the idle slot at once, not after a failed try at the next


@pytest.mark.parametrize("late_by", [0.012, 0.013])
def test_a_slot_that_passed_up_to_a_quarter_of_the_lateness_ago_is_still_taken(
    state_table: str, clock: Clock, late_by: float
) -> None:
    """A consumer back 12 ms after the quota's slot (a quarter of 50 ms is 12.5) takes that
    slot, and the one after it stays one interval on; 13 ms after, the slot is lost and the
    quota restarts from now."""
    first, second = _limiters(state_table, clock, per_second=20)
    assert first.acquire(max_wait_seconds=0) is True
    clock.now += first.interval + late_by

    assert second.acquire(max_wait_seconds=0) is True  # no wait either way
    started = clock.now
    assert first.acquire(max_wait_seconds=1) is True
    expected_wait = first.interval - late_by if late_by < 0.0125 else first.interval
    assert clock.now - started == pytest.approx(expected_wait, abs=1e-5)


@pytest.mark.parametrize("per_second", [3, 7, 20, 333, 0.7])
def test_the_interval_is_whole_microseconds_and_never_shorter_than_the_quota_allows(
    state_table: str, per_second: float
) -> None:
    limiter = RateLimiter(client=boto3.client("dynamodb"), table=state_table, per_second=per_second)
    exact = 1.05 / per_second
    assert exact <= limiter.interval <= exact + 1e-6
    microseconds = limiter.interval * 1e6
    assert microseconds == pytest.approx(round(microseconds), abs=1e-6)


class LosingClient(CountingClient):
    """Every conditional write loses, as if another consumer always won the race just before."""

    def update_item(self, **kwargs: Any) -> Any:
        self.writes += 1
        error = {
            "Code": "ConditionalCheckFailedException",
            "Message": "The conditional request failed",
        }
        raise ClientError({"Error": error}, "UpdateItem")


class ThrottledClient(CountingClient):
    """DynamoDB refuses every write (not a condition: the table is throttled)."""

    def update_item(self, **kwargs: Any) -> Any:
        error = {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}
        raise ClientError({"Error": error}, "UpdateItem")


@pytest.mark.parametrize("next_slot_in", [None, 5.0])
def test_a_consumer_that_keeps_losing_the_race_gives_up_without_a_slot(
    state_table: str, clock: Clock, next_slot_in: float | None
) -> None:
    """Eight rounds, then the caller requeues; a next slot exactly as far as the caller may wait
    is still one to race for."""
    client = LosingClient()
    if next_slot_in is not None:
        boto3.client("dynamodb").put_item(
            TableName=state_table,
            Item={"pk": {"S": "rate#vendor"}, "tat": {"N": f"{clock.now + next_slot_in:.6f}"}},
        )
    limiter = RateLimiter(
        client=client, table=state_table, per_second=20, clock=clock, sleep=clock.sleep
    )
    assert limiter.acquire(max_wait_seconds=5) is False
    assert client.writes == 16  # eight rounds of two writes, then it stops


def test_a_count_lost_three_races_in_a_row_is_skipped_not_retried_forever(
    state_table: str, clock: Clock
) -> None:
    client = LosingClient()
    circuit = circuit_on(client, state_table, clock, min_requests=1)
    assert circuit.record_failure(circuit.permit()) is False
    assert client.writes == 6  # three rounds of "add to the window" and "start a window"


def test_a_dynamodb_error_that_is_not_a_lost_race_reaches_the_caller(
    state_table: str, clock: Clock
) -> None:
    """Never taken for a lost race (which would mean "not now, try again"): the mediator's
    invocation fails and the message comes back."""
    circuit = circuit_on(ThrottledClient(), state_table, clock, min_requests=1)
    limiter = RateLimiter(client=ThrottledClient(), table=state_table, per_second=20, clock=clock)
    for attempt in (
        lambda: circuit.record_failure(circuit.permit()),
        lambda: circuit.throttle(1),
        lambda: limiter.acquire(max_wait_seconds=5),
    ):
        with pytest.raises(ClientError) as raised:
            attempt()
        assert raised.value.response["Error"]["Code"] == "ProvisionedThroughputExceededException"


def test_the_quotas_record_outlives_an_hour_of_idleness(state_table: str, clock: Clock) -> None:
    """It expires (DynamoDB TTL) an hour after its last slot was taken, never before: a quota
    record deleted while in use would let a burst through."""
    limiter = _limiters(state_table, clock, per_second=20, count=1)[0]
    for _ in range(2):  # the first slot is taken "now", the second the next one
        assert limiter.acquire(max_wait_seconds=1) is True
        taken_at = clock.now
        item = boto3.client("dynamodb").get_item(
            TableName=state_table, Key={"pk": {"S": "rate#vendor"}}
        )["Item"]
        assert int(item["expiration"]["N"]) >= int(taken_at) + 3600 - 1


def test_a_quota_must_be_a_positive_rate(state_table: str) -> None:
    for bad in (0, -1, float("inf"), float("nan")):
        with pytest.raises(ValueError, match="per_second"):
            RateLimiter(client=boto3.client("dynamodb"), table=state_table, per_second=bad)

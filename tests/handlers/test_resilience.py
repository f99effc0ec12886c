"""Circuit breaker and quota, shared through DynamoDB (moto), with a controlled clock."""

from __future__ import annotations

from collections.abc import Callable

import boto3
import pytest
from vendor_mediator.resilience import CircuitBreaker, CircuitState, Permit, RateLimiter

from tests.handlers.conftest import LoadHandler  # noqa: F401 - fixtures come from conftest


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def state_table(aws: None) -> str:
    boto3.client("dynamodb").create_table(
        TableName="mediator-state",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return "mediator-state"


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def breaker(state_table: str, clock: Clock) -> Callable[[], CircuitBreaker]:
    """Each call is another consumer sharing the same state."""

    def consumer() -> CircuitBreaker:
        return CircuitBreaker(
            client=boto3.client("dynamodb"),
            table=state_table,
            failure_rate=0.5,
            min_requests=4,
            window_seconds=30,
            cooldown_seconds=10,
            probe_lease_seconds=5,
            clock=clock,
        )

    return consumer


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
    first, second = breaker(), breaker()
    _open(first)
    clock.sleep(10)
    assert first.permit().probe  # ... and this consumer never reports back
    clock.sleep(6)

    takeover = second.permit()

    assert (takeover.allowed, takeover.probe) == (True, True)


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


def test_the_quota_is_shared_and_refills_each_second(state_table: str, clock: Clock) -> None:
    limiters = [
        RateLimiter(
            client=boto3.client("dynamodb"),
            table=state_table,
            per_second=3,
            clock=clock,
            sleep=clock.sleep,
        )
        for _ in range(2)
    ]
    granted = [limiters[i % 2].acquire(max_wait_seconds=0) for i in range(5)]
    assert granted == [True, True, True, False, False]

    started = clock.now
    assert limiters[0].acquire(max_wait_seconds=1.5) is True
    assert 0 < clock.now - started <= 1


def test_a_quota_below_one_per_second_uses_longer_windows(state_table: str, clock: Clock) -> None:
    limiter = RateLimiter(
        client=boto3.client("dynamodb"),
        table=state_table,
        per_second=0.5,
        clock=clock,
        sleep=clock.sleep,
    )
    clock.now = 2_000_000.0  # the start of a two-second window
    assert limiter.acquire(max_wait_seconds=0) is True
    clock.sleep(1)
    assert limiter.acquire(max_wait_seconds=0) is False

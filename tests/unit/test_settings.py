"""A function's settings are read at import from its environment, and a missing or malformed
variable stops it there with the variable's name (not a KeyError in the middle of an order)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from order_steps.settings import FailureSettings, TransformSettings
from vendor_mediator.settings import MediatorSettings

from loyalty.contract import Env, PartialFailurePolicy
from loyalty.settings import ConfigurationError

MEDIATOR = {
    Env.EVENT_BUS: "default",
    Env.EVENT_SOURCE: "service-loyalty-vendor-mediator",
    Env.VENDOR_BASE_URL: "https://vendor.example",
    Env.VENDOR_API_KEY_SECRET_ID: "vendor-key",
    Env.VENDOR_CONNECT_TIMEOUT_SECONDS: "2",
    Env.VENDOR_READ_TIMEOUT_SECONDS: "5",
    Env.VENDOR_REQUESTS_PER_SECOND: "10",
    Env.VENDOR_ATTEMPTS_PER_DELIVERY: "2",
    Env.VENDOR_RETRY_BASE_SECONDS: "1",
    Env.VENDOR_RETRY_MAX_SECONDS: "60",
    Env.VENDOR_DEADLINE_SECONDS: "1660",
    Env.VENDOR_RECONCILE_SECONDS: "3600",
    Env.VENDOR_JOB_POLL_SECONDS: "5",
    Env.VENDOR_JOB_TIMEOUT_SECONDS: "1800",
    Env.CIRCUIT_FAILURE_RATE: "0.5",
    Env.CIRCUIT_MIN_REQUESTS: "10",
    Env.CIRCUIT_WINDOW_SECONDS: "30",
    Env.CIRCUIT_COOLDOWN_SECONDS: "30",
    Env.MEDIATOR_STATE_TABLE: "state",
    Env.IDEMPOTENCY_TTL_SECONDS: "3600",
    Env.REQUESTS_QUEUE_URL: "https://sqs/requests",
    Env.REQUESTS_DEAD_LETTER_QUEUE_URL: "https://sqs/dlq",
    Env.RECONCILIATION_QUEUE_URL: "https://sqs/reconciliation",
}


def environ(values: dict[Env, str]) -> dict[str, str]:
    return {name.value: value for name, value in values.items()}


def test_the_mediator_reads_every_setting_typed() -> None:
    settings = MediatorSettings.from_environment(environ(MEDIATOR))
    assert settings.read_timeout_seconds == 5.0
    assert settings.circuit_min_requests == 10
    assert settings.requests_queue_url == "https://sqs/requests"


def test_every_missing_variable_is_named_at_once() -> None:
    partial = {
        k: v for k, v in MEDIATOR.items() if k not in (Env.EVENT_BUS, Env.CIRCUIT_MIN_REQUESTS)
    }
    with pytest.raises(ConfigurationError) as raised:
        MediatorSettings.from_environment(environ(partial))
    assert "not set: EVENT_BUS, CIRCUIT_MIN_REQUESTS" in str(raised.value)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        (Env.CIRCUIT_FAILURE_RATE, "1.5"),  # a rate above 1
        (Env.VENDOR_READ_TIMEOUT_SECONDS, "0"),  # no time to answer
        (Env.VENDOR_DEADLINE_SECONDS, "inf"),
        (Env.CIRCUIT_MIN_REQUESTS, "ten"),
        (Env.VENDOR_BASE_URL, "   "),
    ],
)
def test_a_malformed_variable_is_named_with_its_value(name: Env, value: str) -> None:
    with pytest.raises(ConfigurationError, match=f"malformed: {name.value}={value!r}"):
        MediatorSettings.from_environment(environ({**MEDIATOR, name: value}))


def test_amounts_keep_their_exact_decimal_value() -> None:
    settings = TransformSettings.from_environment(
        environ({Env.POINTS_PER_CURRENCY_UNIT: "0.1", Env.APPROVAL_RETURN_THRESHOLD: "500"})
    )
    assert settings.points_per_currency_unit == Decimal("0.1")


def test_a_policy_outside_the_contract_is_refused() -> None:
    assert (
        FailureSettings.from_environment(
            environ({Env.ON_PARTIAL_FAILURE: "leave"})
        ).on_partial_failure
        is PartialFailurePolicy.LEAVE
    )
    with pytest.raises(ConfigurationError, match="ON_PARTIAL_FAILURE='undo'"):
        FailureSettings.from_environment(environ({Env.ON_PARTIAL_FAILURE: "undo"}))

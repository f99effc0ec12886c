"""What the Vendor Mediator is given (``stacks/vendor_mediator.py`` sets every variable, from the
timings ``stacks/config.py`` derives)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from loyalty.contract import Env
from loyalty.settings import Count, NonEmpty, PositiveSeconds, PublisherSettings, Seconds, variable

Rate = Annotated[float, Field(gt=0, le=1, allow_inf_nan=False)]
PerSecond = Annotated[float, Field(gt=0, allow_inf_nan=False)]


class MediatorSettings(PublisherSettings):
    vendor_base_url: NonEmpty = variable(Env.VENDOR_BASE_URL)
    vendor_api_key_secret_id: NonEmpty = variable(Env.VENDOR_API_KEY_SECRET_ID)
    connect_timeout_seconds: PositiveSeconds = variable(Env.VENDOR_CONNECT_TIMEOUT_SECONDS)
    read_timeout_seconds: PositiveSeconds = variable(Env.VENDOR_READ_TIMEOUT_SECONDS)
    requests_per_second: PerSecond = variable(Env.VENDOR_REQUESTS_PER_SECOND)
    attempts_per_delivery: Count = variable(Env.VENDOR_ATTEMPTS_PER_DELIVERY)
    retry_base_seconds: Seconds = variable(Env.VENDOR_RETRY_BASE_SECONDS)
    retry_max_seconds: Seconds = variable(Env.VENDOR_RETRY_MAX_SECONDS)
    deadline_seconds: PositiveSeconds = variable(Env.VENDOR_DEADLINE_SECONDS)
    reconcile_seconds: PositiveSeconds = variable(Env.VENDOR_RECONCILE_SECONDS)
    job_poll_seconds: PositiveSeconds = variable(Env.VENDOR_JOB_POLL_SECONDS)
    job_timeout_seconds: PositiveSeconds = variable(Env.VENDOR_JOB_TIMEOUT_SECONDS)
    circuit_failure_rate: Rate = variable(Env.CIRCUIT_FAILURE_RATE)
    circuit_min_requests: Count = variable(Env.CIRCUIT_MIN_REQUESTS)
    circuit_window_seconds: PositiveSeconds = variable(Env.CIRCUIT_WINDOW_SECONDS)
    circuit_cooldown_seconds: Seconds = variable(Env.CIRCUIT_COOLDOWN_SECONDS)
    state_table: NonEmpty = variable(Env.MEDIATOR_STATE_TABLE)
    idempotency_ttl_seconds: Count = variable(Env.IDEMPOTENCY_TTL_SECONDS)
    requests_queue_url: NonEmpty = variable(Env.REQUESTS_QUEUE_URL)
    requests_dead_letter_queue_url: NonEmpty = variable(Env.REQUESTS_DEAD_LETTER_QUEUE_URL)
    reconciliation_queue_url: NonEmpty = variable(Env.RECONCILIATION_QUEUE_URL)

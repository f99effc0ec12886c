"""A handler's configuration: its environment read once, at cold start, into a typed model.

Each handler package declares the variables its functions are given as a model of this kind
(``<package>/settings.py``); the stack sets every one of them, so there are no defaults here (they
live in ``stacks/config.py`` alone). ``from_environment`` runs while the handler module is
imported, so a misconfigured function fails on its first event with a message that names each
missing or malformed variable.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from decimal import Decimal
from typing import Annotated, Any, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from loyalty.contract import Env


class ConfigurationError(RuntimeError):
    """A required environment variable is missing or malformed."""


NonEmpty = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
Amount = Annotated[Decimal, Field(ge=0, allow_inf_nan=False)]
"""A non-negative finite number, exactly as written (a rate, a threshold)."""
Seconds = Annotated[float, Field(ge=0, allow_inf_nan=False)]
PositiveSeconds = Annotated[float, Field(gt=0, allow_inf_nan=False)]
Count = Annotated[int, Field(ge=1)]


def variable(name: Env) -> Any:
    """A field read from the environment variable ``name`` (the contract's name for it)."""
    return Field(alias=name.value)


class EnvironmentSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Self:
        source = os.environ if environ is None else environ
        try:
            return cls.model_validate(dict(source))
        except ValidationError as err:
            raise ConfigurationError(_explained(err, source)) from None


class PublisherSettings(EnvironmentSettings):
    """The bus a function puts its events on and the source it puts them as (``DefaultBus``
    gives both to each publisher it grants)."""

    event_bus: NonEmpty = variable(Env.EVENT_BUS)
    event_source: NonEmpty = variable(Env.EVENT_SOURCE)


class BufferSettings(EnvironmentSettings):
    """The SQS buffer a function consumes its events from (``loyalty.adapters.event_buffer``):
    its queue and dead-letter queue, and the backoff between a failed event's receives."""

    buffer_queue_url: NonEmpty = variable(Env.BUFFER_QUEUE_URL)
    buffer_dead_letter_queue_url: NonEmpty = variable(Env.BUFFER_DEAD_LETTER_QUEUE_URL)
    buffer_retry_base_seconds: PositiveSeconds = variable(Env.BUFFER_RETRY_BASE_SECONDS)
    buffer_retry_max_seconds: PositiveSeconds = variable(Env.BUFFER_RETRY_MAX_SECONDS)


def _explained(err: ValidationError, environ: Mapping[str, str]) -> str:
    missing, malformed = [], []
    for problem in err.errors():
        name = str(problem["loc"][0])
        if problem["type"] == "missing":
            missing.append(name)
        else:
            malformed.append(f"{name}={environ.get(name)!r} ({problem['msg']})")
    parts = []
    if missing:
        parts.append(f"environment variable(s) not set: {', '.join(missing)}")
    if malformed:
        parts.append(f"malformed: {'; '.join(malformed)}")
    return (
        "; ".join(parts) + "; the stack that created this function sets them, so it was "
        "deployed outside the app or edited by hand"
    )

"""The vendor's HTTP messages as plain values, and the checks every request body goes through:
what a route handler receives (``Request``) and returns (``Reply``), independent of the server."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal
from typing import Any

# Generous for this API (bodies are a few hundred bytes) but bounded, so a runaway client cannot
# make a handler thread buffer an unbounded body.
MAX_BODY_BYTES = 64 * 1024
MAX_POINTS = 1_000_000_000
MAX_IDEMPOTENCY_KEY_LENGTH = 255
MAX_REFERENCE_LENGTH = 255

Headers = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes = b""
    headers: Headers = ()
    content_type: str | None = "application/json"
    # Seconds the handler waits (outside the lock) before answering: latency and hung responses.
    delay_seconds: float = 0.0


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    api_key: str | None
    idempotency_key: str | None
    body: bytes
    # Set when the HTTP framing itself was unusable (bad Content-Length, chunked, too large).
    framing_error: Reply | None = None


class InvalidRequestError(Exception):
    """A request body that fails validation; becomes 400 invalid_request and is never stored."""


def json_bytes(payload: Mapping[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()


def json_reply(status: int, payload: Mapping[str, Any], headers: Headers = ()) -> Reply:
    return Reply(status=status, body=json_bytes(payload), headers=headers)


def error(status: int, code: str, message: str, headers: Headers = ()) -> Reply:
    return json_reply(status, {"error": {"code": code, "message": message}}, headers)


def format_seconds(seconds: float) -> str:
    # Retry-After is usually an integer, but this vendor sends fractional seconds so local retries
    # stay fast. Round up to the millisecond so a client that obeys it never comes back early.
    value = Decimal(str(max(0.0, seconds))).quantize(Decimal("0.001"), rounding=ROUND_CEILING)
    return format(value.normalize(), "f")


def parse_json_object(body: bytes) -> dict[str, Any]:
    if not body.strip():
        raise InvalidRequestError("request body is empty; expected a JSON object")

    def reject_constant(name: str) -> Any:
        raise InvalidRequestError(f"request body is not valid JSON: {name} is not allowed")

    try:
        payload = json.loads(body, parse_constant=reject_constant)
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are both ValueErrors
        raise InvalidRequestError(f"request body is not valid JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise InvalidRequestError("request body must be a JSON object")
    return payload


def check_fields(payload: Mapping[str, Any], allowed: tuple[str, ...]) -> None:
    # Strict on purpose: an unexpected field means the mediator and the vendor contract drifted.
    unknown = sorted(key for key in payload if key not in allowed)
    if unknown:
        raise InvalidRequestError(f"unknown field(s): {', '.join(repr(k) for k in unknown)}")


def required_str(payload: Mapping[str, Any], name: str) -> str:
    value = payload.get(name)
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_REFERENCE_LENGTH:
        raise InvalidRequestError(
            f"field '{name}' is required and must be a non-empty string of at most "
            f"{MAX_REFERENCE_LENGTH} characters"
        )
    return value


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"

"""Opaque page cursors for the Order API's lists: DynamoDB's ``LastEvaluatedKey``, as base64url
JSON. A cursor is checked before it is used: one this API did not give (edited, truncated, or of
another list) is a clear ``400``, not a DynamoDB validation error."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any


class BadCursorError(ValueError):
    pass


def encode_cursor(key: dict[str, Any]) -> str:
    raw = json.dumps(key, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


MAX_CURSOR_LENGTH = 2048
MAX_VALUE_LENGTH = 256
"""Longer than any key this API writes (references are at most 64 characters): a longer value
is not ours, and DynamoDB would refuse it as a start key (a 500 instead of a 400)."""


def decode_cursor(cursor: str, *, fields: frozenset[str], expect: dict[str, str]) -> dict[str, str]:
    """The key in ``cursor``: exactly ``fields``, all non-empty short strings, with the values
    in ``expect``."""
    if len(cursor) > MAX_CURSOR_LENGTH:
        raise BadCursorError("cursor is not one this API gave (too long)")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        key = json.loads(raw)
    except (binascii.Error, ValueError, RecursionError) as err:
        raise BadCursorError("cursor is not one this API gave") from err
    if (
        not isinstance(key, dict)
        or set(key) != fields
        or not all(
            isinstance(value, str) and 0 < len(value) <= MAX_VALUE_LENGTH for value in key.values()
        )
        or any(key.get(name) != value for name, value in expect.items())
    ):
        raise BadCursorError("cursor is not one this API gave (or is of another list)")
    return key

"""The order reference, every event's correlation id."""

from __future__ import annotations

import re
from typing import Final

# --- The order reference ----------------------------------------------------------------------

ORDER_REFERENCE_FIELD: Final = "order_reference"
ORDER_REFERENCE_PATTERN: Final = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}"
"""The one canonical form of an order reference, checked at every entry (the Order API and the
order starter) before anything uses it: the execution name, the orders table key and the vendor's
idempotency keys are all built from it, so a reference with surrounding whitespace (or any other
character outside this set) would split one order into two. It also names the Step Functions
execution, which forbids whitespace and ``:`` and caps names at 80 characters."""


def order_reference_problem(value: object) -> str | None:
    """Why ``value`` is not a canonical order reference, or None if it is."""
    if not isinstance(value, str) or not value:
        return "must be a non-empty string"
    if value != value.strip():
        return f"{value!r} has leading or trailing whitespace; send the reference without it"
    if not re.fullmatch(ORDER_REFERENCE_PATTERN, value):
        return (
            f"{value!r} is not a valid order reference: 1 to 64 letters, digits, '_', '.' or "
            "'-', starting with a letter or digit"
        )
    return None

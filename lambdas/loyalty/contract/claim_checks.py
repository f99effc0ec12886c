"""Large payloads: how an order too large to travel inline travels by reference instead."""

from __future__ import annotations

from typing import Final

# --- Large payloads: claim checks ----------------------------------------------------------

CLAIM_CHECK_FIELD: Final = "claim_check"
"""An order (or a step's result) too large to travel inline is stored in the orders bucket and
travels as ``{"claim_check": {"bucket": ..., "key": ..., "bytes": ...}}`` instead; an
``order.received`` event then carries ``order_reference`` beside it."""
CLAIM_CHECK_PREFIX: Final = "orders/"
"""Where claim-checked documents are kept in the orders bucket (the roles may touch only these)."""


def claim_check_key(order_reference: str, name: str) -> str:
    """The key of one of an order's documents: ``orders/<order reference>/<name>``."""
    return f"{CLAIM_CHECK_PREFIX}{order_reference}/{name}"


MAX_INLINE_BYTES: Final = 96 * 1024
"""Anything larger goes to S3. Step Functions caps state at 256 KB: an order (or its pointer),
the loyalty instructions (at most 1,000 vouchers and 1,000 rewards, about 60 KB) and the rest of
the state must fit together."""

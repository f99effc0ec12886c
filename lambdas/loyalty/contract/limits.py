"""How much one order may carry and how often one request may crash the Vendor Mediator."""

from __future__ import annotations

from typing import Final

# --- Order size limits (the model enforces them; the API's gateway schema repeats them) ----

MAX_LINES: Final = 10_000
MAX_VOUCHERS: Final = 1_000
"""Each voucher and reward is one waiting task in a Map (about 9 history events); 1,000 of each
keeps an order far below Step Functions' 25,000-event execution history (see README)."""
MAX_REWARDS: Final = 1_000


# --- Vendor Mediator ---------------------------------------------------------------------------

MEDIATOR_MAX_CRASHES: Final = 3
"""Deliveries of one request that may end without the mediator finishing them (a crashed or
timed-out invocation) before it parks the request in its dead-letter queue; the vendor step's
heartbeat allows for them."""

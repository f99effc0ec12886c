"""The actions people take on an order through the Order API."""

from __future__ import annotations

from typing import Final

APPROVAL_ACTION: Final = "approval"
"""The action a person takes on an order that waits for approval
(``POST /orders/{reference}/actions/approval``)."""
CANCEL_ACTION: Final = "cancel"
"""A customer's or operator's cancellation (``POST /orders/{reference}/actions/cancel``): a
running order ends ``CANCELLED`` at its next step; effects already applied are reversed first."""
RETRY_ACTION: Final = "retry"
"""An operator re-runs a FAILED order (``POST /orders/{reference}/actions/retry``): a new
execution, ``<reference>+<attempt>``, that asks the vendor only for what it has not applied, under
idempotency keys of that attempt."""

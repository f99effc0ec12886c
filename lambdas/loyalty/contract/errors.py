"""The Step Functions error names the system raises, which the state machine and API match on,
and where a dead-lettered event says why it was refused."""

from __future__ import annotations

from enum import StrEnum
from typing import Final

DEAD_LETTER_REASON_ATTRIBUTE: Final = "error"
"""The SQS message attribute in which an event buffer writes why it sent an event to its
dead-letter queue (read by operators and by the local cloud's and tests' checks)."""

# --- Error names ---------------------------------------------------------------------------


class ErrorName(StrEnum):
    """Step Functions error names the system raises."""

    ORDER_VALIDATION_ERROR = "OrderValidationError"
    """The order breaks a business rule (``loyalty.domain.errors.OrderValidationError``)."""
    UNKNOWN_ORDER_TYPE = "UnknownOrderType"
    """The order is neither a recognisable sale nor a recognisable return."""

    DUPLICATE_ORDER = "DuplicateOrder"
    ORDER_REJECTED = "OrderRejected"
    """A person rejected the order (SendTaskFailure from the Order API)."""
    VENDOR_REJECTED = "VendorRejected"
    VENDOR_UNAVAILABLE = "VendorUnavailable"
    VENDOR_ERROR = "VendorError"
    """Fallback when a vendor ``error`` answer names no error."""
    VENDOR_OUTCOME_UNKNOWN = "VendorOutcomeUnknown"
    """The vendor may or may not have applied the effect (a lost answer, a timeout, a malformed
    2xx), and the mediator could not learn which before its reconciliation window closed: never
    reported as "not applied". The item is ``UNKNOWN`` and the order ``NEEDS_RECONCILIATION``."""
    ORDER_CANCELLED = "OrderCancelled"
    """Somebody cancelled the order (``POST /orders/{reference}/actions/cancel``): the step that
    noticed fails with it, and the order ends ``CANCELLED``."""
    COMPENSATION_FAILED = "CompensationFailed"
    """A failed order's applied effects could not all be reversed (the vendor refused, or was
    unavailable past the deadline): the order is ``COMPENSATION_FAILED``; an operator's retry
    asks again for the reversals that were not made."""
    APPROVAL_NOT_OPENED = "ApprovalNotOpened"
    """The approval step's function failed in every attempt: no action was opened, so nobody
    could have decided; the order fails at once instead of waiting out the approval deadline."""
    STEP_TIMED_OUT = "StepTimedOut"
    """A waiting step got no answer in all its attempts (its cause names the step)."""
    STEP_FAILED = "StepFailed"
    """Step Functions' own ``States.*`` errors, renamed: a ``Fail`` state may not raise a name
    that starts with ``States.`` (the cause keeps the original name)."""

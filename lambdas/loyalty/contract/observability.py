"""The service and metric names the handlers emit and the dashboard and alarms read."""

from __future__ import annotations

from enum import StrEnum
from typing import Final

# --- Observability: services (Powertools service names) and the metrics alarms watch ----------

METRICS_NAMESPACE_DEFAULT: Final = "Loyalty"


class ServiceName(StrEnum):
    """``POWERTOOLS_SERVICE_NAME`` of each function: the ``service`` dimension of its metrics and
    the ``service`` key of its log lines."""

    ORDER_PROCESSING = "order-processing"
    VENDOR_MEDIATOR = "vendor-mediator"
    ORDER_API = "order-api"


class MetricName(StrEnum):
    """Custom metrics (EMF, one namespace) the handlers emit and the dashboard and alarms read."""

    ORDER_ACCEPTED = "OrderAccepted"
    DUPLICATE_ORDER_RECEIVED = "DuplicateOrderReceived"
    ORDER_STARTED = "OrderStarted"
    ORDER_COMPLETED = "OrderCompleted"
    ORDER_FAILED = "OrderFailed"
    ORDER_REJECTED = "OrderRejected"
    STEP_SUCCEEDED = "StepSucceeded"
    STEP_FAILED = "StepFailed"
    STEP_DURATION = "StepDuration"
    """Milliseconds from a step's request to its worker's answer (dimension ``step``)."""
    ORDER_RERUN = "OrderRerun"
    """An operator re-ran a FAILED order."""
    APPROVAL_REQUESTED = "ApprovalRequested"
    APPROVAL_GRANTED = "ApprovalGranted"
    APPROVAL_DENIED = "ApprovalDenied"
    TASK_RESUMED = "TaskResumed"
    VENDOR_CALLS = "VendorCalls"
    VENDOR_ERRORS = "VendorErrors"
    VENDOR_LATENCY = "VendorLatency"
    VENDOR_RETRIES = "VendorRetries"
    VENDOR_THROTTLED = "VendorThrottled"
    CIRCUIT_OPENED = "CircuitOpened"
    CIRCUIT_CLOSED = "CircuitClosed"
    REQUEUED = "Requeued"
    INVALID_REQUEST = "InvalidRequest"
    """A vendor request parked in the dead-letter queue."""
    ANSWER_DROPPED = "AnswerDroppedTokenClosed"
    ANSWERED_SUBMITTED = "AnsweredSubmitted"
    ANSWERED_ERROR = "AnsweredError"
    OUTCOME_UNKNOWN = "VendorOutcomeUnknown"
    """A request answered ``VendorOutcomeUnknown`` and parked in the reconciliation queue."""
    MEDIATOR_CRASHED = "MediatorCrashedOnRequest"
    """A request whose deliveries kept failing inside the mediator, parked in its DLQ."""
    ORDER_NEEDS_RECONCILIATION = "OrderNeedsReconciliation"
    ORDER_COMPENSATED = "OrderCompensated"
    ORDER_CANCELLED = "OrderCancelled"
    CANCEL_REQUESTED = "CancelRequested"
    COMPENSATION_FAILED = "CompensationFailed"
    STALE_STEP_IGNORED = "StaleStepIgnored"
    """A worker ran for a step the order already left (a late Lambda retry): it changed
    nothing and answered nothing."""

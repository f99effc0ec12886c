"""The event contract of the loyalty system: sources, detail types, metadata values, rule patterns
and environment variable names.

This module is the single source of truth. The CDK stacks import it to build rules and state
machine tasks; the Lambda handlers import it to read and write events. It imports nothing but the
standard library, so it ships inside the Lambda asset unchanged.

Two event families travel on the account's default EventBridge bus:

* **Vendor requests and answers** keep seed 000's shape byte for byte: ``DetailType: "event"``,
  ``detail.metadata`` (domain, service, category, type, status) and ``detail.data`` whose
  ``loyalty_request_id`` carries the task token.
* **Order steps** follow seed 004: the state machine puts a step request carrying ``TaskToken``; a
  worker answers ``TASK_FINISHED`` (with ``result``) or ``TASK_FAILED`` (with ``error``/``cause``)
  and the Step Finisher resumes the execution. Order lifecycle events (``order.received``,
  ``order.completed``, ``order.failed``) tell the rest of the world what happened.

Every event names its order in ``order_reference`` (order steps and lifecycle events) or
``data.loyalty_order_reference`` (vendor events), which is the correlation id used in logs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Final

DEFAULT_DOMAIN: Final = "LEGO-LOYALTY"
"""Seed 000's ``metadata.domain``; configurable (cdk.json ``loyalty:domain``)."""


DEFAULT_PREFIX: Final = "loyalty"
"""``loyalty:resourcePrefix`` of the default copy of the system."""


class Source(StrEnum):
    """EventBridge ``source`` of each service in the default copy (and seed 000's
    ``metadata.service`` values, which every copy keeps); another copy's are `source_of`."""

    ORDER_PROCESS = "service-loyalty-order-process"
    VENDOR_MEDIATOR = "service-loyalty-vendor-mediator"
    ORDER_INTAKE = "service-loyalty-order-intake"
    """Whoever accepts orders from clients (the Order API, a till integration, a test) puts
    ``order.received`` with this source."""


def source_of(service: Source, prefix: str = DEFAULT_PREFIX) -> str:
    """The ``source`` ``service`` puts events with in the copy deployed with
    ``loyalty:resourcePrefix`` = ``prefix``: ``service-<prefix>-...``. Two copies in one account
    share the default bus; every rule filters on its own copy's sources, and every publisher may
    put only its own (IAM), so neither copy takes the other's events."""
    return service.value.replace(f"service-{DEFAULT_PREFIX}-", f"service-{prefix}-", 1)


def sources_of(prefix: str = DEFAULT_PREFIX) -> list[str]:
    """Every source of one copy."""
    return [source_of(service, prefix) for service in Source]


# --- Vendor requests and answers (seed 000) -------------------------------------------------

VENDOR_DETAIL_TYPE: Final = "event"
TASK_STATUS_CATEGORY: Final = "task-status"
VENDOR_TOKEN_FIELD: Final = "loyalty_request_id"
"""Field of ``detail.data`` that carries the task token on vendor requests and answers."""


class VendorRequestType(StrEnum):
    """``metadata.type`` of a vendor request: what the vendor is asked to do."""

    VOUCHER = "voucher"
    REWARD = "reward"
    SALE = "sale"  # credit points
    RETURN = "return"  # deduct points
    # Compensation: undo what an order that failed had applied (``loyalty:onPartialFailure``).
    SALE_REVERSAL = "sale-reversal"  # deduct the points a sale credited
    RETURN_REVERSAL = "return-reversal"  # credit back the points a return deducted
    VOUCHER_REVERSAL = "voucher-reversal"
    REWARD_REVERSAL = "reward-reversal"


EFFECT_TYPES: Final = (
    VendorRequestType.VOUCHER,
    VendorRequestType.REWARD,
    VendorRequestType.SALE,
    VendorRequestType.RETURN,
)
"""The four request types of seed 000's patterns, in its order."""
REVERSAL_OF: Final = {
    VendorRequestType.SALE: VendorRequestType.SALE_REVERSAL,
    VendorRequestType.RETURN: VendorRequestType.RETURN_REVERSAL,
    VendorRequestType.VOUCHER: VendorRequestType.VOUCHER_REVERSAL,
    VendorRequestType.REWARD: VendorRequestType.REWARD_REVERSAL,
}
"""The request that undoes each kind of effect."""
REVERSALS: Final = frozenset(REVERSAL_OF.values())
REVERSAL_TYPES: Final = tuple(REVERSAL_OF[t] for t in EFFECT_TYPES)
"""Matched by rules of their own (``vendor_request_pattern(types=REVERSAL_TYPES)``), beside the
seed's, which stay byte for byte."""


class PartialFailurePolicy(StrEnum):
    """What happens to the effects an order applied before it failed
    (``loyalty:onPartialFailure``)."""

    COMPENSATE = "compensate"
    """Reverse every applied effect through the Vendor Mediator: the order's net effect is zero."""
    LEAVE = "leave"
    """Leave them; ``order.failed`` lists them for whoever acts on it."""


class VendorStatus(StrEnum):
    """``metadata.status``: ``processed`` on requests, ``submitted``/``error`` on answers."""

    PROCESSED = "processed"
    SUBMITTED = "submitted"
    ERROR = "error"


def vendor_metadata(
    *, domain: str, service: Source, type: str, status: VendorStatus
) -> dict[str, str]:
    """``detail.metadata`` of a vendor request or answer. ``type`` is a `VendorRequestType` value,
    or a JSONPath when the state machine fills it in at run time."""
    return {
        "domain": domain,
        "service": service.value,
        "category": TASK_STATUS_CATEGORY,
        "type": type,
        "status": status.value,
    }


def vendor_request_pattern(
    domain: str = DEFAULT_DOMAIN,
    types: tuple[VendorRequestType, ...] = EFFECT_TYPES,
    *,
    prefix: str = DEFAULT_PREFIX,
) -> dict[str, Any]:
    """Seed 000 step 2: the Vendor Mediator's rule, generalised to the four request types; with
    ``types=REVERSAL_TYPES``, the same rule for a compensation's reversals. Beside the seed's
    ``detail``, a ``source`` filter: only the order process may ask the vendor for anything (the
    seed's ``metadata.service`` is a field any publisher can write; ``source`` is the one the
    publishers' IAM grants pin, ``events:source``)."""
    return {
        "source": [source_of(Source.ORDER_PROCESS, prefix)],
        "detail": {
            "metadata": {
                "domain": [domain],
                "service": [Source.ORDER_PROCESS.value],
                "category": [TASK_STATUS_CATEGORY],
                "type": [t.value for t in types],
                "status": [VendorStatus.PROCESSED.value],
            }
        },
    }


def vendor_answer_pattern(
    domain: str = DEFAULT_DOMAIN,
    types: tuple[VendorRequestType, ...] = EFFECT_TYPES,
    *,
    prefix: str = DEFAULT_PREFIX,
) -> dict[str, Any]:
    """Seed 000 step 4, byte for byte, plus a ``source`` filter: the Token Handler's rule; with
    ``types=REVERSAL_TYPES``, the same rule for the answers to a compensation's reversals. Only
    the Vendor Mediator answers for the vendor: without the filter, anyone allowed to put events
    could resume a vendor step with a token it had seen, as any source (see
    ``seed_pattern``)."""
    return {
        "source": [source_of(Source.VENDOR_MEDIATOR, prefix)],
        "detail": {
            "metadata": {
                "domain": [domain],
                "service": [Source.VENDOR_MEDIATOR.value],
                "category": [TASK_STATUS_CATEGORY],
                "type": [t.value for t in types],
                "status": [VendorStatus.SUBMITTED.value, VendorStatus.ERROR.value],
            },
            "data": {VENDOR_TOKEN_FIELD: [{"exists": True}]},
        },
    }


def seed_pattern(pattern: dict[str, Any]) -> dict[str, Any]:
    """``pattern`` without the ``source`` filter this system adds: what seed 000 wrote."""
    return {key: value for key, value in pattern.items() if key != "source"}


# --- Order steps (seed 004) and order lifecycle -----------------------------------------------

TASK_TOKEN_FIELD: Final = "TaskToken"
"""Field of ``detail`` that carries the task token on order-step requests and answers."""

ORDER_STEP_CATEGORY: Final = "order-step"
ORDER_LIFECYCLE_CATEGORY: Final = "order-lifecycle"


class OrderStep(StrEnum):
    """Detail types of the order-processing steps done by worker Lambdas."""

    RECOGNISE = "order.recognise"
    VALIDATE = "order.validate"
    STORE = "order.store"
    PROPORTION_DISCOUNTS = "order.proportion-discounts"
    TRANSFORM = "order.transform"
    AWAIT_APPROVAL = "order.await-approval"
    """Answered by a person through the Order API, not by a worker."""
    COMPLETE = "order.complete"
    RECORD_FAILURE = "order.record-failure"
    SETTLE_COMPENSATION = "order.settle-compensation"
    """After the reversals of a failed order's effects: FAILED (net zero), COMPENSATION_FAILED
    or NEEDS_RECONCILIATION."""
    RECORD_REJECTION = "order.record-rejection"


class StepWait(StrEnum):
    """Which of the configuration's wait policies a step's task waits with."""

    WORKER = "worker"
    """A worker's answer: ``loyalty:workerStep{Heartbeat,Timeout}Seconds``, ``Retries``."""
    APPROVAL = "approval"
    """A person's decision: ``loyalty:approvalTimeoutSeconds``, never re-asked."""


@dataclass(frozen=True, kw_only=True)
class StepSpec:
    """One order step as the stack deploys it: its worker, what the worker may touch, where its
    result goes and how long the state machine waits for it."""

    step: OrderStep
    module: str
    """The worker module, ``lambdas/order_steps/<module>.py``."""
    construct_id: str
    """The step's state and, suffixed ``Worker``, its function (their logical IDs)."""
    result_path: str | None = None
    """Where the worker's result goes in the execution's state; None: it is discarded."""
    orders_table: tuple[str, ...] = ()
    """The DynamoDB actions the worker may take on the orders table."""
    actions_table: tuple[str, ...] = ()
    """The DynamoDB actions the worker may take on the actions table."""
    writes_documents: bool = False
    """It may store claim-checked documents; every worker may read them."""
    wait: StepWait = StepWait.WORKER
    invoked: bool = False
    """The state machine invokes the function with the token, which never travels on the bus:
    the step has no rule and no event."""

    @property
    def handler(self) -> str:
        """The Lambda handler of the step's worker."""
        return f"order_steps.{self.module}.handler"


ORDER_STEPS: Final[Mapping[OrderStep, StepSpec]] = MappingProxyType(
    {
        spec.step: spec
        for spec in (
            StepSpec(
                step=OrderStep.RECOGNISE,
                module="recognise",
                construct_id="RecogniseOrder",
                result_path="$.order",
                writes_documents=True,
            ),
            StepSpec(
                step=OrderStep.VALIDATE,
                module="validate",
                construct_id="ValidateOrder",
                result_path="$.order",
                writes_documents=True,
            ),
            StepSpec(
                step=OrderStep.STORE,
                module="store",
                construct_id="StoreOrder",
                # UpdateItem: a re-run's store resumes the record the Order API handed to it.
                orders_table=("dynamodb:PutItem", "dynamodb:BatchWriteItem", "dynamodb:UpdateItem"),
                writes_documents=True,
            ),
            StepSpec(
                step=OrderStep.PROPORTION_DISCOUNTS,
                module="proportion_discounts",
                construct_id="ProportionDiscounts",
                result_path="$.order",
                orders_table=("dynamodb:UpdateItem",),
                writes_documents=True,
            ),
            StepSpec(
                step=OrderStep.TRANSFORM,
                module="transform",
                construct_id="TransformOrder",
                result_path="$.loyalty",
                # Query: a re-run reads which items the vendor applied, not to ask for them again.
                orders_table=("dynamodb:UpdateItem", "dynamodb:Query"),
            ),
            StepSpec(
                step=OrderStep.AWAIT_APPROVAL,
                module="await_approval",
                construct_id="AwaitApproval",
                result_path="$.approval",
                orders_table=("dynamodb:UpdateItem",),
                # UpdateItem: an order cancelled before a person was asked closes its action.
                actions_table=("dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:UpdateItem"),
                wait=StepWait.APPROVAL,
                invoked=True,
            ),
            StepSpec(
                step=OrderStep.COMPLETE,
                module="complete",
                construct_id="CompleteOrder",
                orders_table=("dynamodb:UpdateItem", "dynamodb:Query"),
            ),
            StepSpec(
                step=OrderStep.RECORD_FAILURE,
                module="record_failure",
                construct_id="RecordFailure",
                result_path="$.failure",
                orders_table=("dynamodb:UpdateItem", "dynamodb:Query"),
            ),
            StepSpec(
                step=OrderStep.SETTLE_COMPENSATION,
                module="settle_compensation",
                construct_id="SettleCompensation",
                result_path="$.compensation",
                orders_table=("dynamodb:UpdateItem", "dynamodb:Query"),
            ),
            StepSpec(
                step=OrderStep.RECORD_REJECTION,
                module="record_rejection",
                construct_id="RecordRejection",
                orders_table=("dynamodb:UpdateItem",),
                actions_table=("dynamodb:UpdateItem",),
            ),
        )
    }
)
"""Every order step: the stack deploys each one's worker, rule and grants from its entry,
docs/events.md lists them, and tests/infrastructure/test_step_table.py checks each has its
function, rule and handler. Adding a step: an entry here, its handler module, and its place in
the stack's flow."""


class StepStatus(StrEnum):
    """``metadata.status`` of order-step requests and of the workers' answers."""

    REQUESTED = "requested"
    FINISHED = "finished"
    FAILED = "failed"


class TaskAnswer(StrEnum):
    """Detail types a worker answers with; the Step Finisher resumes the execution on them."""

    FINISHED = "TASK_FINISHED"
    FAILED = "TASK_FAILED"


class OrderEvent(StrEnum):
    """Order lifecycle events, for whoever needs to know (notifications, analytics)."""

    RECEIVED = "order.received"
    APPROVAL_REQUESTED = "order.approval-requested"
    COMPLETED = "order.completed"
    FAILED = "order.failed"
    REJECTED = "order.rejected"
    CANCELLED = "order.cancelled"
    """The order was cancelled (before any vendor effect, or its effects are being reversed)."""
    COMPENSATED = "order.compensated"
    """Every effect of a failed order was reversed: its net effect at the vendor is zero."""
    COMPENSATION_FAILED = "order.compensation-failed"
    """A reversal was refused or could not be made: an operator must act (then retry)."""
    NEEDS_RECONCILIATION = "order.needs-reconciliation"
    """A vendor effect's outcome could not be learned in time: an operator must look (the
    order is parked, not failed; its items say which effects are known and which are not)."""


def order_step_metadata(*, domain: str, step: str, status: StepStatus) -> dict[str, str]:
    """``detail.metadata`` of order-step requests and of the workers' answers."""
    return {
        "domain": domain,
        "service": Source.ORDER_PROCESS.value,
        "category": ORDER_STEP_CATEGORY,
        "type": step,
        "status": status.value,
    }


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


def order_received_pattern(prefix: str = DEFAULT_PREFIX) -> dict[str, Any]:
    """Starts an order-processing execution."""
    return {
        "source": [source_of(Source.ORDER_INTAKE, prefix)],
        "detail-type": [OrderEvent.RECEIVED.value],
    }


def order_step_pattern(step: OrderStep, prefix: str = DEFAULT_PREFIX) -> dict[str, Any]:
    """A worker's rule: the step request put by the order-processing state machine."""
    return {
        "source": [source_of(Source.ORDER_PROCESS, prefix)],
        "detail-type": [step.value],
        "detail": {TASK_TOKEN_FIELD: [{"exists": True}]},
    }


def task_answer_pattern(prefix: str = DEFAULT_PREFIX) -> dict[str, Any]:
    """The Step Finisher's rule: a worker's TASK_FINISHED / TASK_FAILED answer."""
    return {
        "source": [source_of(Source.ORDER_PROCESS, prefix)],
        "detail-type": [a.value for a in TaskAnswer],
        "detail": {TASK_TOKEN_FIELD: [{"exists": True}]},
    }


# --- What the event log and the archive keep: never a task token --------------------------------


def token_free_pattern(prefix: str = DEFAULT_PREFIX) -> dict[str, Any]:
    """Events of one copy's sources that carry no task token: the order lifecycle
    (``order.received`` included, which is all a replay needs). Logged and archived whole."""
    return {
        "source": sources_of(prefix),
        "detail": {
            TASK_TOKEN_FIELD: [{"exists": False}],
            "data": {VENDOR_TOKEN_FIELD: [{"exists": False}]},
        },
    }


def token_bearing(prefix: str = DEFAULT_PREFIX) -> dict[str, tuple[dict[str, Any], str]]:
    """The events that carry a task token (step requests and worker answers; vendor requests and
    answers), by family, each with the path of its order reference. The event log keeps a
    one-line summary of each (`event_summary_paths`), never the event, so nobody who can read
    the log can resume a task; the archive keeps none of them (a replay re-drives
    ``order.received``; a replayed step event would carry a closed token)."""
    # Every source of the copy, not only the ones that should carry a token: an event that
    # carries one from any other (a forgery, a client's order with a TaskToken field) is still
    # logged, as a summary.
    sources = sources_of(prefix)
    return {
        "StepEvents": (
            {"source": sources, "detail": {TASK_TOKEN_FIELD: [{"exists": True}]}},
            f"$.detail.{ORDER_REFERENCE_FIELD}",
        ),
        "VendorEvents": (
            {"source": sources, "detail": {"data": {VENDOR_TOKEN_FIELD: [{"exists": True}]}}},
            "$.detail.data.loyalty_order_reference",
        ),
    }


INGESTION_TIME: Final = "<aws.events.event.ingestion-time>"
"""EventBridge's predefined input-transformer variable: when it took the event (ISO 8601)."""

EVENT_SUMMARY_FIELDS: Final = ("order_reference", "source", "detail-type", "type", "status")
"""The words of a summary line, in order, separated by one space (none of them has a space)."""


def event_summary_paths(order_reference_path: str) -> dict[str, str]:
    """Each summary field's JSON path in the event (an EventBridge input transformer's paths)."""
    return {
        "order_reference": order_reference_path,
        "source": "$.source",
        "detail-type": "$.detail-type",
        "type": "$.detail.metadata.type",
        "status": "$.detail.metadata.status",
    }


def parse_event_summary(line: str) -> dict[str, Any] | None:
    """A summary line as the event it summarises (without its token and data), or None if
    ``line`` is not one."""
    words = line.split(" ")
    if len(words) != len(EVENT_SUMMARY_FIELDS) or not all(words):
        return None
    fields = dict(zip(EVENT_SUMMARY_FIELDS, words, strict=True))
    return {
        "source": fields["source"],
        "detail-type": fields["detail-type"],
        "detail": {
            ORDER_REFERENCE_FIELD: fields["order_reference"],
            "metadata": {"type": fields["type"], "status": fields["status"]},
        },
    }


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


# --- Environment variables set by the constructs and read by handlers at cold start ------------


class Env(StrEnum):
    EVENT_BUS = "EVENT_BUS"
    EVENT_SOURCE = "EVENT_SOURCE"
    LOYALTY_DOMAIN = "LOYALTY_DOMAIN"
    ORDERS_TABLE = "ORDERS_TABLE_NAME"
    STATE_MACHINE_ARN = "STATE_MACHINE_ARN"
    ACTIONS_TABLE = "ACTIONS_TABLE_NAME"
    ORDERS_BUCKET = "ORDERS_BUCKET_NAME"
    IDEMPOTENCY_TABLE = "IDEMPOTENCY_TABLE_NAME"
    APPROVAL_RETURN_THRESHOLD = "APPROVAL_RETURN_THRESHOLD"
    APPROVAL_TIMEOUT_SECONDS = "APPROVAL_TIMEOUT_SECONDS"
    ON_PARTIAL_FAILURE = "ON_PARTIAL_FAILURE"
    POINTS_PER_CURRENCY_UNIT = "POINTS_PER_CURRENCY_UNIT"
    VENDOR_BASE_URL = "VENDOR_BASE_URL"
    VENDOR_API_KEY_SECRET_ID = "VENDOR_API_KEY_SECRET_ID"
    VENDOR_CONNECT_TIMEOUT_SECONDS = "VENDOR_CONNECT_TIMEOUT_SECONDS"
    VENDOR_READ_TIMEOUT_SECONDS = "VENDOR_READ_TIMEOUT_SECONDS"
    VENDOR_REQUESTS_PER_SECOND = "VENDOR_REQUESTS_PER_SECOND"
    VENDOR_ATTEMPTS_PER_DELIVERY = "VENDOR_ATTEMPTS_PER_DELIVERY"
    VENDOR_RETRY_BASE_SECONDS = "VENDOR_RETRY_BASE_SECONDS"
    VENDOR_RETRY_MAX_SECONDS = "VENDOR_RETRY_MAX_SECONDS"
    VENDOR_DEADLINE_SECONDS = "VENDOR_DEADLINE_SECONDS"
    CIRCUIT_FAILURE_RATE = "CIRCUIT_FAILURE_RATE"
    CIRCUIT_MIN_REQUESTS = "CIRCUIT_MIN_REQUESTS"
    CIRCUIT_WINDOW_SECONDS = "CIRCUIT_WINDOW_SECONDS"
    CIRCUIT_COOLDOWN_SECONDS = "CIRCUIT_COOLDOWN_SECONDS"
    MEDIATOR_STATE_TABLE = "MEDIATOR_STATE_TABLE"
    IDEMPOTENCY_TTL_SECONDS = "IDEMPOTENCY_TTL_SECONDS"
    REQUESTS_QUEUE_URL = "REQUESTS_QUEUE_URL"
    REQUESTS_DEAD_LETTER_QUEUE_URL = "REQUESTS_DEAD_LETTER_QUEUE_URL"
    RECONCILIATION_QUEUE_URL = "RECONCILIATION_QUEUE_URL"
    BUFFER_QUEUE_URL = "BUFFER_QUEUE_URL"
    BUFFER_DEAD_LETTER_QUEUE_URL = "BUFFER_DEAD_LETTER_QUEUE_URL"
    BUFFER_RETRY_BASE_SECONDS = "BUFFER_RETRY_BASE_SECONDS"
    BUFFER_RETRY_MAX_SECONDS = "BUFFER_RETRY_MAX_SECONDS"
    VENDOR_RECONCILE_SECONDS = "VENDOR_RECONCILE_SECONDS"

"""The event contract of the loyalty system: sources, detail types, metadata values, rule patterns
and environment variable names.

This package is the single source of truth. The CDK stacks import it to build rules and state
machine tasks; the Lambda handlers import it to read and write events. It imports nothing but the
standard library, so it ships inside the Lambda asset unchanged.

One module a part, every name re-exported here (``from loyalty.contract import X``): ``sources``
(the domain, the resource prefix, each service's source), ``vendor`` (seed 000's requests and
answers), ``steps`` (seed 004's order steps, ``ORDER_STEPS``, the order lifecycle),
``order_reference``, ``event_log`` (what the event log and the archive keep), ``actions`` (the
Order API's actions), ``limits`` (order sizes, the Vendor Mediator), ``claim_checks``, ``errors``,
``observability`` (service and metric names) and ``env`` (environment variable names).

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

from loyalty.contract.actions import (
    APPROVAL_ACTION,
    CANCEL_ACTION,
    RETRY_ACTION,
)
from loyalty.contract.claim_checks import (
    CLAIM_CHECK_FIELD,
    CLAIM_CHECK_PREFIX,
    MAX_INLINE_BYTES,
    claim_check_key,
)
from loyalty.contract.env import (
    Env,
)
from loyalty.contract.errors import (
    DEAD_LETTER_REASON_ATTRIBUTE,
    ErrorName,
)
from loyalty.contract.event_log import (
    EVENT_SUMMARY_FIELDS,
    INGESTION_TIME,
    event_summary_paths,
    parse_event_summary,
    token_bearing,
    token_free_pattern,
)
from loyalty.contract.limits import (
    MAX_LINES,
    MAX_REWARDS,
    MAX_VOUCHERS,
    MEDIATOR_MAX_CRASHES,
)
from loyalty.contract.observability import (
    METRICS_NAMESPACE_DEFAULT,
    MetricName,
    ServiceName,
)
from loyalty.contract.order_reference import (
    ORDER_REFERENCE_FIELD,
    ORDER_REFERENCE_PATTERN,
    order_reference_problem,
)
from loyalty.contract.sources import (
    DEFAULT_DOMAIN,
    DEFAULT_PREFIX,
    Source,
    source_of,
    sources_of,
)
from loyalty.contract.steps import (
    ORDER_LIFECYCLE_CATEGORY,
    ORDER_STEP_CATEGORY,
    ORDER_STEPS,
    TASK_TOKEN_FIELD,
    OrderEvent,
    OrderStep,
    StepSpec,
    StepStatus,
    StepWait,
    TaskAnswer,
    order_received_pattern,
    order_step_metadata,
    order_step_pattern,
    task_answer_pattern,
)
from loyalty.contract.vendor import (
    EFFECT_TYPES,
    REVERSAL_OF,
    REVERSAL_TYPES,
    REVERSALS,
    TASK_STATUS_CATEGORY,
    VENDOR_DETAIL_TYPE,
    VENDOR_TOKEN_FIELD,
    PartialFailurePolicy,
    VendorRequestType,
    VendorStatus,
    seed_pattern,
    vendor_answer_pattern,
    vendor_metadata,
    vendor_request_pattern,
)

__all__ = [
    "APPROVAL_ACTION",
    "CANCEL_ACTION",
    "CLAIM_CHECK_FIELD",
    "CLAIM_CHECK_PREFIX",
    "DEAD_LETTER_REASON_ATTRIBUTE",
    "DEFAULT_DOMAIN",
    "DEFAULT_PREFIX",
    "EFFECT_TYPES",
    "EVENT_SUMMARY_FIELDS",
    "INGESTION_TIME",
    "MAX_INLINE_BYTES",
    "MAX_LINES",
    "MAX_REWARDS",
    "MAX_VOUCHERS",
    "MEDIATOR_MAX_CRASHES",
    "METRICS_NAMESPACE_DEFAULT",
    "ORDER_LIFECYCLE_CATEGORY",
    "ORDER_REFERENCE_FIELD",
    "ORDER_REFERENCE_PATTERN",
    "ORDER_STEPS",
    "ORDER_STEP_CATEGORY",
    "RETRY_ACTION",
    "REVERSALS",
    "REVERSAL_OF",
    "REVERSAL_TYPES",
    "TASK_STATUS_CATEGORY",
    "TASK_TOKEN_FIELD",
    "VENDOR_DETAIL_TYPE",
    "VENDOR_TOKEN_FIELD",
    "Env",
    "ErrorName",
    "MetricName",
    "OrderEvent",
    "OrderStep",
    "PartialFailurePolicy",
    "ServiceName",
    "Source",
    "StepSpec",
    "StepStatus",
    "StepWait",
    "TaskAnswer",
    "VendorRequestType",
    "VendorStatus",
    "claim_check_key",
    "event_summary_paths",
    "order_received_pattern",
    "order_reference_problem",
    "order_step_metadata",
    "order_step_pattern",
    "parse_event_summary",
    "seed_pattern",
    "source_of",
    "sources_of",
    "task_answer_pattern",
    "token_bearing",
    "token_free_pattern",
    "vendor_answer_pattern",
    "vendor_metadata",
    "vendor_request_pattern",
]

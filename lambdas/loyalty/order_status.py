"""The orders table's schema: its key, the order and item statuses, and item keys.

Dependency-free, so the CDK stack (which defines the table) and the handlers (which write it)
share it.
"""

from __future__ import annotations

from enum import StrEnum

PARTITION_KEY = "order_reference"
SORT_KEY = "record"
ORDER_RECORD = "order"
ITEM_RECORD_PREFIX = "item#"
ITEM_ATTEMPT = "attempt"
"""On an item record: the run (an operator's re-run, 2 or more) that asked for it again; only
that run's answers record it. The first run's items have none."""
STATUS_INDEX = "ByStatus"
"""The orders of one status, newest in it first (the staff's queues): partition ``status``, sort
``STATUS_SINCE``. Only order records carry ``STATUS_SINCE``, so items are not in the index."""
STATUS_SINCE = "status_since"
"""When the order entered its current status (ISO 8601, UTC)."""
STATUS_INDEX_ATTRIBUTES = (
    "order_type",
    "currency",
    "net_amount",
    "points",
    "approval_reasons",
    "created_at",
)
"""What the index holds besides the keys: enough to list an order without reading it, and
nothing that every step rewrites (``updated_at``), since a write that changes a projected
attribute is an index write too."""


class OrderStatus(StrEnum):
    PROCESSING = "PROCESSING"
    AWAITING_APPROVAL = "AWAITING_APPROVAL"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    REJECTED = "REJECTED"
    NEEDS_RECONCILIATION = "NEEDS_RECONCILIATION"
    """Ended with a vendor effect whose outcome is unknown: parked for an operator."""
    CANCELLED = "CANCELLED"
    """Somebody cancelled it: nothing of it is applied (what was, was reversed)."""
    COMPENSATING = "COMPENSATING"
    """Failed (or cancelled) after applying some effects: they are being reversed."""
    COMPENSATION_FAILED = "COMPENSATION_FAILED"
    """Failed, and a reversal was refused or could not be made: an operator's retry asks again
    for the reversals that were not made."""


class OrderStage(StrEnum):
    RESTARTED = "RESTARTED"
    """An operator re-ran the failed order: its new execution owns it and has not stored it yet."""
    STORED = "STORED"
    DISCOUNTS_PROPORTIONED = "DISCOUNTS_PROPORTIONED"
    TRANSFORMED = "TRANSFORMED"
    AWAITING_APPROVAL = "AWAITING_APPROVAL"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    REJECTED = "REJECTED"
    NEEDS_RECONCILIATION = "NEEDS_RECONCILIATION"
    CANCELLED = "CANCELLED"
    COMPENSATING = "COMPENSATING"
    COMPENSATION_FAILED = "COMPENSATION_FAILED"


STAGE_ORDER: tuple[OrderStage, ...] = (
    OrderStage.RESTARTED,
    OrderStage.STORED,
    OrderStage.DISCOUNTS_PROPORTIONED,
    OrderStage.TRANSFORMED,
    OrderStage.AWAITING_APPROVAL,
)
"""The stages a running order passes through, in order. A step may only write its stage while
the order has not gone past it: a late run of an earlier step (a Lambda retry that arrives after
the state machine moved on) can never rewrite the past."""


def stages_up_to(stage: OrderStage) -> tuple[OrderStage, ...]:
    """The running stages at or before ``stage``."""
    return STAGE_ORDER[: STAGE_ORDER.index(stage) + 1]


RERUNNABLE_STATUSES = frozenset({OrderStatus.FAILED, OrderStatus.COMPENSATION_FAILED})
"""What an operator may re-run: every effect's outcome is known (``NEEDS_RECONCILIATION`` first
needs an operator's reconciliation) and nobody decided against it (``REJECTED`` is final). A
``COMPENSATION_FAILED`` order's re-run asks again for the reversals that were not made."""


class ItemStatus(StrEnum):
    """What the vendor did with one item (points, a voucher, a reward)."""

    PENDING = "PENDING"
    """Not answered yet: the request is on its way or being retried."""
    SUBMITTED = "SUBMITTED"
    """Applied by the vendor (final: nothing moves an item out of it)."""
    ERROR = "ERROR"
    """Known not to be applied: the vendor refused it, or was never reached."""
    UNKNOWN = "UNKNOWN"
    """Maybe applied, maybe not (a lost answer, a timeout): never reported as ERROR; the order
    is NEEDS_RECONCILIATION until an operator (or a later answer) settles it. Also a reversal's
    outcome that is not known."""
    COMPENSATED = "COMPENSATED"
    """Applied, then reversed by the order's compensation: no net effect."""
    COMPENSATION_FAILED = "COMPENSATION_FAILED"
    """Applied, and its reversal was refused or could not be made: still applied."""


REVERSIBLE_ITEM_STATUSES = frozenset({ItemStatus.SUBMITTED, ItemStatus.COMPENSATION_FAILED})
"""Items a compensation reverses: applied, and not reversed yet."""


RUNNING_STATUSES = frozenset({OrderStatus.PROCESSING, OrderStatus.AWAITING_APPROVAL})
TERMINAL_STATUSES = frozenset(
    {
        OrderStatus.COMPLETED,
        OrderStatus.FAILED,
        OrderStatus.REJECTED,
        OrderStatus.NEEDS_RECONCILIATION,
        OrderStatus.COMPENSATION_FAILED,
        OrderStatus.CANCELLED,
    }
)
"""Final for the order's own steps: a late step run can never move an order out of these."""


class ActionStatus(StrEnum):
    """A step waiting for a person (an approval), as the actions table records it."""

    PENDING = "PENDING"
    DECIDED = "DECIDED"
    EXPIRED = "EXPIRED"


ACTION_SORT_KEY = "action"

POINTS_ITEM = "points"


def voucher_item(code: str) -> str:
    return f"voucher#{code}"


def reward_item(code: str) -> str:
    return f"reward#{code}"

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


class OrderStatus(StrEnum):
    PROCESSING = "PROCESSING"
    AWAITING_APPROVAL = "AWAITING_APPROVAL"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    REJECTED = "REJECTED"


class OrderStage(StrEnum):
    STORED = "STORED"
    DISCOUNTS_PROPORTIONED = "DISCOUNTS_PROPORTIONED"
    TRANSFORMED = "TRANSFORMED"
    AWAITING_APPROVAL = "AWAITING_APPROVAL"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    REJECTED = "REJECTED"


class ItemStatus(StrEnum):
    PENDING = "PENDING"
    SUBMITTED = "SUBMITTED"
    ERROR = "ERROR"


TERMINAL_STATUSES = frozenset({OrderStatus.COMPLETED, OrderStatus.FAILED, OrderStatus.REJECTED})


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

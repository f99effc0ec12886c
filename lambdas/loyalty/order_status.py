"""The orders table's schema: its key, the order and item statuses, and item keys.

Dependency-free, so the CDK stack (which defines the table) and the handlers (which write it)
share it.
"""

from __future__ import annotations

from enum import StrEnum

PARTITION_KEY = "order_reference"


class OrderStatus(StrEnum):
    PROCESSING = "PROCESSING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"


class OrderStage(StrEnum):
    STORED = "STORED"
    DISCOUNTS_PROPORTIONED = "DISCOUNTS_PROPORTIONED"
    TRANSFORMED = "TRANSFORMED"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"


class ItemStatus(StrEnum):
    PENDING = "PENDING"
    SUBMITTED = "SUBMITTED"
    ERROR = "ERROR"


TERMINAL_STATUSES = frozenset({OrderStatus.COMPLETED, OrderStatus.FAILED})

POINTS_ITEM = "points"


def voucher_item(code: str) -> str:
    return f"voucher#{code}"


def reward_item(code: str) -> str:
    return f"reward#{code}"

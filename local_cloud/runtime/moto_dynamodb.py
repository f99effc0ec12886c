"""DynamoDB's per-item atomicity, which moto 5.2.5 does not give threads (filled here, only here).

DynamoDB applies each request to an item atomically: a conditional write's check and its change
are one step (two consumers can never both win the same condition), and a read sees an item as
it was before or after a write, never half-written. The app relies on that everywhere: the
orders table's ownership conditions, the idempotency records, the vendor quota's slots, the
circuit breaker's single probe, the fence that makes "not applied" final.

moto serves each request in the calling thread, with no lock: it evaluates the condition, then
applies the change, and the GIL may switch threads in between. Under the local cloud's many
threads (handlers, pollers, executions) that is a real race, not a theoretical one: 8 threads
taking a conditional counter below 200 won it 207 to 281 times (``tests/local_cloud/
test_moto_dynamodb.py``), and a reader saw two attributes that one update moves together
differ. Every DynamoDB request now runs under one lock, from parsing to its serialised answer
(moto builds an answer from the live item after its backend returns), and so does every item
operation of the backend, for callers that reach it directly: each request is atomic as on AWS.
(One lock for all tables: DynamoDB work in this process is GIL-bound anyway, so finer locks
would buy nothing.)

Queries and scans also walked moto's item dictionaries while another thread added to them
(``RuntimeError: dictionary changed size during iteration``, seen with 500 orders at once: a 500
DynamoDB never gives). They run under the lock now; their walks also take snapshots, which keeps
moto's helpers safe for any caller outside the backend's methods.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import Item as DynamoItem
from moto.dynamodb.models.table import Table as DynamoTable
from moto.dynamodb.models.utilities import bytesize
from moto.dynamodb.responses import DynamoHandler

ITEM_OPERATIONS = (
    "get_item",
    "put_item",
    "update_item",
    "delete_item",
    "batch_get_item",
    "batch_write_item",
    "transact_get_items",
    "transact_write_items",
    "query",
    "scan",
    "execute_statement",
    "execute_transaction",
    "batch_execute_statement",
)
"""The backend methods that read or change items: each is one atomic request on AWS."""

_items_lock = threading.RLock()  # reentrant: a batch or transaction may call the item methods


def _atomic(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def serialised(*args: Any, **kwargs: Any) -> Any:
        with _items_lock:
            return method(*args, **kwargs)

    serialised.__wrapped_atomic__ = True  # type: ignore[attr-defined]
    return serialised


def _all_items_snapshot(self: DynamoTable) -> list[Any]:
    """moto's ``Table.all_items``, over snapshots of the item dictionaries."""
    items: list[Any] = []
    for hash_set in list(self.items.values()):
        if self.range_key_attr:
            items.extend(list(hash_set.values()))
        else:
            items.append(hash_set)
    return sorted(items, key=lambda x: (x.hash_key, x.range_key) if x.range_key else x.hash_key)


def _item_size_snapshot(self: DynamoItem) -> int:
    """moto's ``Item.size``, over a snapshot of the item's attributes."""
    return sum(bytesize(key) + value.size() for key, value in list(self.attrs.items()))


def _idx_items_snapshot(self: DynamoTable, index_name: str) -> list[Any]:
    """moto's ``Table.has_idx_items``, over snapshots of the item dictionaries."""
    wanted = {i["AttributeName"] for i in self.get_index(index_name).schema}
    candidates: list[Any] = (
        [item for hash_set in list(self.items.values()) for item in list(hash_set.values())]
        if self.range_key_attr
        else list(self.items.values())
    )
    return [item for item in candidates if wanted.issubset(set(item.attrs))]


def apply() -> None:
    """Idempotent; affects every moto mock in the process."""
    for cls, names in ((DynamoHandler, ("call_action",)), (DynamoDBBackend, ITEM_OPERATIONS)):
        for name in names:
            method = getattr(cls, name)
            if not getattr(method, "__wrapped_atomic__", False):
                setattr(cls, name, _atomic(method))
    DynamoTable.all_items = _all_items_snapshot  # type: ignore[method-assign]
    DynamoTable.has_idx_items = _idx_items_snapshot  # type: ignore[method-assign]
    DynamoItem.size = _item_size_snapshot  # type: ignore[method-assign]

"""The orders table: per order, one *order record* and one *item record* per vendor effect.

Key: ``order_reference`` (partition) and ``record`` (sort): ``order`` for the order record,
``item#points``, ``item#voucher#<code>``, ``item#reward#<code>`` for its items. Items are records
of their own, not a map inside the order record, because the Token Handler updates one item per
vendor answer: a nested map would make every update rewrite (and pay write units for) the whole
order, and an order of 2,000 vouchers and rewards would pass DynamoDB's 400 KB item limit.

Every write to the order record after the first is conditional on ``execution_id``: the execution
that stored the order owns it, so a duplicate execution (a redelivered ``order.received`` after
the 90-day name window, or an operator's mistake) can never overwrite the status of the real one.

Every step's write is also conditional on the step still being current: the order must still be
running (``TERMINAL_STATUSES`` are final) and not past the step's stage. A worker can run late —
Lambda retries a failed asynchronous invocation a minute or three later, after the state machine
re-sent the step with a new token or ended the order — and such a run must change nothing
(``StaleStepError``). An item that the vendor applied (``SUBMITTED``) never changes again.
"""

from __future__ import annotations

from loyalty.adapters.orders_table.items import ItemRecords, ItemUpdate
from loyalty.adapters.orders_table.lifecycle import BATCH_WRITE_LIMIT, OrderLifecycle
from loyalty.adapters.orders_table.reads import OrderReads
from loyalty.adapters.orders_table.refusals import NotOwnerError, StaleStepError
from loyalty.adapters.orders_table.reruns import OrderReruns


class OrdersTable(OrderLifecycle, OrderReruns, ItemRecords, OrderReads):
    """The orders table, one job a module: the order's way through its statuses
    (``lifecycle``), an operator's re-run (``reruns``), the item records (``items``) and the
    reads (``reads``), all on the order record's conditional writes (``record``) and
    ``refusals``."""


__all__ = ["BATCH_WRITE_LIMIT", "ItemUpdate", "NotOwnerError", "OrdersTable", "StaleStepError"]

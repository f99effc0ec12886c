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

from enum import StrEnum
from typing import Any

from botocore.exceptions import ClientError

from loyalty.adapters.dynamodb import is_condition_failure
from loyalty.adapters.orders_table.codec import deserializer, to_attr
from loyalty.adapters.orders_table.refusals import (
    NotOwnerError,
    StaleStepError,
    old_item,
    refusal,
)
from loyalty.naming import attempt_of
from loyalty.order_status import (
    ITEM_ATTEMPT,
    ITEM_RECORD_PREFIX,
    ORDER_RECORD,
    PARTITION_KEY,
    REVERSIBLE_ITEM_STATUSES,
    RUNNING_STATUSES,
    SORT_KEY,
    STATUS_INDEX,
    STATUS_SINCE,
    ItemStatus,
    OrderStage,
    OrderStatus,
    stages_up_to,
)

BATCH_WRITE_LIMIT = 25


class ItemUpdate(StrEnum):
    """What ``mark_item`` did."""

    RECORDED = "recorded"
    NO_SUCH_ITEM = "no such item"
    ALREADY_APPLIED = "already SUBMITTED"
    """The item was applied at the vendor; a later answer cannot make it anything else."""
    NOT_APPLICABLE = "not in a status this answer applies to"
    """A reversal's answer for an item that was not applied (or was reversed already), or a
    late forward answer for an item being reversed."""
    OTHER_RUN = "asked for again by a later run"
    """A late answer of an earlier run, for an item an operator's re-run asked for again: the
    re-run's own answer says what the vendor did."""


class OrdersTable:
    def __init__(self, *, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def _key(self, order_reference: str, record: str = ORDER_RECORD) -> dict[str, Any]:
        return {PARTITION_KEY: to_attr(order_reference), SORT_KEY: to_attr(record)}

    def create(
        self,
        *,
        order_reference: str,
        execution_id: str,
        attributes: dict[str, Any],
        items: dict[str, dict[str, Any]],
        now: str,
    ) -> None:
        """Store a new order and its PENDING items. Idempotent for its own execution while the
        order is still at ``STORED`` (a retried storage step rewrites the same records); raises
        NotOwnerError if another execution stored it first, StaleStepError if the order already
        went further (a late retry must not reset its status and items)."""
        record = {
            **attributes,
            PARTITION_KEY: order_reference,
            SORT_KEY: ORDER_RECORD,
            "execution_id": execution_id,
            "status": OrderStatus.PROCESSING.value,
            STATUS_SINCE: now,
            "stage": OrderStage.STORED.value,
            "created_at": now,
            "updated_at": now,
        }
        try:
            self._client.put_item(
                TableName=self._table,
                Item={k: to_attr(v) for k, v in record.items()},
                # A re-run's record (it has an ``attempt``) is never overwritten: ``resume``.
                # Nor one that somebody cancelled meanwhile (OrderCancelled).
                ConditionExpression=(
                    "attribute_not_exists(#pk) OR (execution_id = :exec AND #stage = :stored "
                    "AND #status = :processing AND attribute_not_exists(attempt) "
                    "AND attribute_not_exists(cancel_requested))"
                ),
                ExpressionAttributeNames={
                    "#pk": PARTITION_KEY,
                    "#stage": "stage",
                    "#status": "status",
                },
                ExpressionAttributeValues={
                    ":exec": to_attr(execution_id),
                    ":stored": to_attr(OrderStage.STORED.value),
                    ":processing": to_attr(OrderStatus.PROCESSING.value),
                },
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as err:
            if is_condition_failure(err):
                raise refusal(err, order_reference, execution_id, "store") from err
            raise
        # The order record is this execution's: its item records can be written unconditionally.
        puts = [
            {
                "PutRequest": {
                    "Item": {
                        **self._key(order_reference, ITEM_RECORD_PREFIX + key),
                        **{k: to_attr(v) for k, v in {**value, "updated_at": now}.items()},
                    }
                }
            }
            for key, value in items.items()
        ]
        for start in range(0, len(puts), BATCH_WRITE_LIMIT):
            self._batch_write(puts[start : start + BATCH_WRITE_LIMIT])

    def restart(
        self,
        *,
        order_reference: str,
        failed_execution: str,
        execution_id: str,
        attempt: int,
        retry: dict[str, Any],
        now: str,
    ) -> bool:
        """An operator re-runs a FAILED (or COMPENSATION_FAILED) order: ``execution_id``
        (attempt ``attempt``) owns it from now, the failure moves to ``retries`` (with who asked,
        when and why) and the order is PROCESSING again. False, changing nothing, unless the
        order is still failed under ``failed_execution`` (a concurrent retry or cancellation
        won)."""
        names = {
            "#pk": PARTITION_KEY,
            "#status": "status",
            "#stage": "stage",
            "#since": STATUS_SINCE,
            "#retries": "retries",
            "#error": "error",
            "#cause": "cause",
            "#failed_at": "failed_at",
        }
        try:
            self._client.update_item(
                TableName=self._table,
                Key=self._key(order_reference),
                UpdateExpression=(
                    "SET #status = :processing, #stage = :restarted, #since = :now, "
                    "updated_at = :now, execution_id = :exec, attempt = :attempt, "
                    "#retries = list_append(if_not_exists(#retries, :none), :retry) "
                    # What the failed run ended with is in ``retries`` now; none of it is the
                    # new run's (a compensation's outcome, a cancellation it had).
                    "REMOVE #error, #cause, #failed_at, order_error, order_cause, "
                    "compensation_ended_at, cancel_requested"
                ),
                ConditionExpression=(
                    "attribute_exists(#pk) AND #status IN (:failed, :not_compensated, "
                    ":compensating) AND execution_id = :from"
                ),
                ExpressionAttributeNames=names,
                ExpressionAttributeValues={
                    k: to_attr(v)
                    for k, v in {
                        ":processing": OrderStatus.PROCESSING.value,
                        ":restarted": OrderStage.RESTARTED.value,
                        ":failed": OrderStatus.FAILED.value,
                        ":not_compensated": OrderStatus.COMPENSATION_FAILED.value,
                        ":compensating": OrderStatus.COMPENSATING.value,
                        ":now": now,
                        ":exec": execution_id,
                        ":from": failed_execution,
                        ":attempt": attempt,
                        ":none": [],
                        ":retry": [retry],
                    }.items()
                },
            )
        except ClientError as err:
            if is_condition_failure(err):
                return False
            raise
        return True

    def resume(
        self,
        *,
        order_reference: str,
        execution_id: str,
        items: dict[str, dict[str, Any]],
        now: str,
    ) -> None:
        """The storage step of a re-run: the order is STORED again under ``execution_id`` and
        every item the vendor has not applied (or whose effect was reversed) is PENDING again;
        an applied item (``SUBMITTED``, or ``COMPENSATION_FAILED``: its reversal was not made) is
        never asked for again. Raises NotOwnerError if another execution owns the order, and
        StaleStepError unless this execution re-runs it and has not gone past storing it (a
        retried step does the same again)."""
        self._update_owned(
            order_reference,
            execution_id,
            {"stage": OrderStage.STORED.value, "updated_at": now},
            stages=(OrderStage.RESTARTED, OrderStage.STORED),
        )
        attempt = attempt_of(execution_id)
        for key, value in items.items():
            # The run that asks for the item again: only its answers record it from now on.
            record = {**value, ITEM_ATTEMPT: attempt, "updated_at": now}
            try:
                self._client.put_item(
                    TableName=self._table,
                    Item={
                        **self._key(order_reference, ITEM_RECORD_PREFIX + key),
                        **{k: to_attr(v) for k, v in record.items()},
                    },
                    ConditionExpression=(
                        "attribute_not_exists(#status) OR NOT #status IN (:applied, :kept)"
                    ),
                    ExpressionAttributeNames={"#status": "status"},
                    ExpressionAttributeValues={
                        ":applied": to_attr(ItemStatus.SUBMITTED.value),
                        ":kept": to_attr(ItemStatus.COMPENSATION_FAILED.value),
                    },
                )
            except ClientError as err:
                if not is_condition_failure(err):
                    raise

    def applied_items(self, order_reference: str) -> set[str]:
        """The items the vendor applied and that were not reversed, by key: what a re-run must
        not ask for again."""
        return {
            key
            for key, item in (self.get(order_reference) or {}).get("items", {}).items()
            if item.get("status") in REVERSIBLE_ITEM_STATUSES
        }

    def _batch_write(self, requests: list[dict[str, Any]]) -> None:
        pending = {self._table: requests}
        for _ in range(8):
            unprocessed = self._client.batch_write_item(RequestItems=pending).get(
                "UnprocessedItems", {}
            )
            if not unprocessed:
                return
            pending = unprocessed
        raise RuntimeError(f"{len(pending[self._table])} item records not written (throttled)")

    def record_stage(
        self,
        *,
        order_reference: str,
        execution_id: str,
        stage: OrderStage,
        now: str,
        attributes: dict[str, Any] | None = None,
    ) -> int:
        """Record that the owning execution reached ``stage`` (with what it computed there),
        unless the order is already past it or ended (StaleStepError). Returns the order's
        attempt (1, or more for an operator's re-run)."""
        record = self._update_owned(
            order_reference,
            execution_id,
            {"stage": stage.value, "updated_at": now, **(attributes or {})},
            stages=stages_up_to(stage),
        )
        return int(record.get("attempt", 1))

    def await_approval(
        self, *, order_reference: str, execution_id: str, reasons: list[str], now: str
    ) -> None:
        self._update_owned(
            order_reference,
            execution_id,
            {
                "status": OrderStatus.AWAITING_APPROVAL.value,
                STATUS_SINCE: now,
                "stage": OrderStage.AWAITING_APPROVAL.value,
                "approval_reasons": reasons,
                "updated_at": now,
            },
            stages=stages_up_to(OrderStage.AWAITING_APPROVAL),
        )

    def approved(self, *, order_reference: str, execution_id: str, now: str) -> bool:
        """A person approved the order: it is PROCESSING again (out of the staff's queue).
        Returns False, changing nothing, unless the order still awaits approval under
        ``execution_id`` (it may already have moved on)."""
        try:
            self._update(
                order_reference,
                {"status": OrderStatus.PROCESSING.value, STATUS_SINCE: now, "updated_at": now},
                condition=(
                    "attribute_exists(#pk) AND execution_id = :exec AND #c_status = :awaiting"
                ),
                condition_values={
                    ":exec": execution_id,
                    ":awaiting": OrderStatus.AWAITING_APPROVAL.value,
                },
                condition_names={"#c_status": "status"},
            )
        except ClientError as err:
            if is_condition_failure(err):
                return False
            raise
        return True

    def reject(self, *, order_reference: str, execution_id: str, reason: str, now: str) -> None:
        self._end(
            order_reference,
            execution_id,
            OrderStatus.REJECTED,
            {"rejection_reason": reason, "updated_at": now},
            ended_at=("rejected_at", now),
        )

    def complete(self, *, order_reference: str, execution_id: str, now: str) -> None:
        """COMPLETED, unless somebody cancelled the order meanwhile (OrderCancelled: its effects
        are reversed instead)."""
        self._end(
            order_reference,
            execution_id,
            OrderStatus.COMPLETED,
            {"updated_at": now},
            ended_at=("completed_at", now),
            unless_cancelled=True,
        )

    def request_cancel(
        self, *, order_reference: str, cancel: dict[str, Any], now: str
    ) -> dict[str, Any] | None:
        """Record a cancellation (who, when, why) on a running order: its next step stops it.
        Returns the order record, or None, changing nothing, if the order is not running (any
        more) or was cancelled already."""
        try:
            answer = self._client.update_item(
                TableName=self._table,
                Key=self._key(order_reference),
                UpdateExpression="SET cancel_requested = :cancel, updated_at = :now",
                ConditionExpression=(
                    "attribute_exists(#pk) AND #status IN (:run0, :run1) "
                    "AND attribute_not_exists(cancel_requested)"
                ),
                ExpressionAttributeNames={"#pk": PARTITION_KEY, "#status": "status"},
                ExpressionAttributeValues={
                    k: to_attr(v)
                    for k, v in {":cancel": cancel, ":now": now, **running_values()}.items()
                },
                ReturnValues="ALL_NEW",
            )
        except ClientError as err:
            if is_condition_failure(err):
                return None
            raise
        return {k: deserializer.deserialize(v) for k, v in answer["Attributes"].items()}

    def fail(
        self,
        *,
        order_reference: str,
        execution_id: str,
        error: str,
        cause: str,
        now: str,
        status: OrderStatus = OrderStatus.FAILED,
    ) -> bool:
        """End the order with ``status`` (FAILED, or NEEDS_RECONCILIATION when a vendor effect's
        outcome is unknown) and the error, creating the record if the order never got stored (it
        failed recognition or validation). Returns False, changing nothing, if another execution
        owns the order; raises StaleStepError if the order already ended otherwise."""
        try:
            self._end(
                order_reference,
                execution_id,
                status,
                {"error": error, "cause": cause, "updated_at": now, "execution_id": execution_id},
                ended_at=(
                    "cancelled_at" if status is OrderStatus.CANCELLED else "failed_at",
                    now,
                ),
                may_create=True,
            )
        except NotOwnerError:
            return False
        return True

    def settle_compensation(
        self,
        *,
        order_reference: str,
        execution_id: str,
        status: OrderStatus,
        error: str,
        cause: str,
        failure: tuple[str, str],
        now: str,
    ) -> None:
        """End a compensation: FAILED (every reversal made), COMPENSATION_FAILED or
        NEEDS_RECONCILIATION, if this execution owns the order and it is COMPENSATING (or
        already has ``status``: a retried step). ``failure``: the error and cause the order
        itself failed with, kept as ``order_error``/``order_cause`` (an operator's retry of the
        compensation ends with them). Raises NotOwnerError or StaleStepError."""
        try:
            self._update(
                order_reference,
                {
                    "status": status.value,
                    "stage": status.value,
                    STATUS_SINCE: now,
                    "error": error,
                    "cause": cause,
                    "order_error": failure[0],
                    "order_cause": failure[1],
                    "compensation_ended_at": now,
                    "updated_at": now,
                },
                condition=(
                    "attribute_exists(#pk) AND execution_id = :exec "
                    "AND #c_status IN (:compensating, :final)"
                ),
                condition_values={
                    ":exec": execution_id,
                    ":compensating": OrderStatus.COMPENSATING.value,
                    ":final": status.value,
                },
                condition_names={"#c_status": "status"},
            )
        except ClientError as err:
            if is_condition_failure(err):
                raise refusal(err, order_reference, execution_id, status.value) from err
            raise

    def mark_item(
        self,
        *,
        order_reference: str,
        item_key: str,
        status: ItemStatus,
        now: str,
        attributes: dict[str, Any] | None = None,
        reversal: bool = False,
        attempt: int = 1,
    ) -> ItemUpdate:
        """Set one item's status (e.g. a voucher SUBMITTED at the vendor). An item already
        SUBMITTED keeps that status whatever a later (stale) answer says, and a reversed one
        (COMPENSATED, or being reversed) is no forward answer's to change. ``reversal``: the
        answer to its reversal, which only applies to an item applied and not reversed yet.
        ``attempt``: the run that asked (an item a re-run asked for again takes only the re-run's
        answers; a reversal's answer is fenced by the item's status alone)."""
        names = {"#pk": PARTITION_KEY, "#status": "status"}
        values: dict[str, Any] = {":status": status.value, ":now": now}
        sets = ["#status = :status", "updated_at = :now"]
        for index, (key, value) in enumerate((attributes or {}).items()):
            names[f"#a{index}"] = key
            values[f":a{index}"] = value
            sets.append(f"#a{index} = :a{index}")
        condition = "attribute_exists(#pk)"
        update = "SET " + ", ".join(sets)
        stale = [k for k in ("error", "reason") if k not in (attributes or {})]
        if status in (ItemStatus.SUBMITTED, ItemStatus.COMPENSATED) and stale:
            # What an earlier answer said went wrong is no longer true.
            update += " REMOVE " + ", ".join(f"#{k}" for k in stale)
            names.update({f"#{k}": k for k in stale})
        if reversal:
            condition += " AND #status IN (:applied, :not_reversed)"
            values[":applied"] = ItemStatus.SUBMITTED.value
            values[":not_reversed"] = ItemStatus.COMPENSATION_FAILED.value
        else:
            condition += " AND NOT #status IN (:reversed, :not_reversed)"
            values[":reversed"] = ItemStatus.COMPENSATED.value
            values[":not_reversed"] = ItemStatus.COMPENSATION_FAILED.value
            if status is not ItemStatus.SUBMITTED:
                condition += " AND #status <> :applied"
                values[":applied"] = ItemStatus.SUBMITTED.value
            # The first run's items carry no attempt; a re-run writes its own on what it asks.
            names["#attempt"] = ITEM_ATTEMPT
            values[":attempt"] = attempt
            condition += (
                " AND (attribute_not_exists(#attempt) OR #attempt = :attempt)"
                if attempt == 1
                else " AND #attempt = :attempt"
            )
        try:
            self._client.update_item(
                TableName=self._table,
                Key=self._key(order_reference, ITEM_RECORD_PREFIX + item_key),
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues={k: to_attr(v) for k, v in values.items()},
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as err:
            if is_condition_failure(err):
                old = old_item(err)
                if old is None:
                    return ItemUpdate.NO_SUCH_ITEM
                if old.get("status") == ItemStatus.SUBMITTED and not reversal:
                    return ItemUpdate.ALREADY_APPLIED
                if not reversal and int(old.get(ITEM_ATTEMPT, 1)) != attempt:
                    return ItemUpdate.OTHER_RUN
                return ItemUpdate.NOT_APPLICABLE
            raise
        return ItemUpdate.RECORDED

    def get(self, order_reference: str) -> dict[str, Any] | None:
        """The order record with its items as ``items`` (keyed without the record prefix), or
        None for an unknown order."""
        order: dict[str, Any] | None = None
        items: dict[str, dict[str, Any]] = {}
        arguments: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "#pk = :ref",
            "ExpressionAttributeNames": {"#pk": PARTITION_KEY},
            "ExpressionAttributeValues": {":ref": to_attr(order_reference)},
            "ConsistentRead": True,
        }
        while True:
            page = self._client.query(**arguments)
            for raw in page.get("Items", []):
                record = {k: deserializer.deserialize(v) for k, v in raw.items()}
                name = str(record.pop(SORT_KEY))
                if name == ORDER_RECORD:
                    order = record
                else:
                    record.pop(PARTITION_KEY, None)
                    items[name.removeprefix(ITEM_RECORD_PREFIX)] = record
            if "LastEvaluatedKey" not in page:
                break
            arguments["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        if order is None:
            return None
        return {**order, "items": items}

    def order_record(self, order_reference: str) -> dict[str, Any] | None:
        """The order record alone (status, stage, ...), without reading its items: what a
        status check needs, whatever the size of the order."""
        page = self._client.query(
            TableName=self._table,
            KeyConditionExpression="#pk = :ref AND #sk = :order",
            ExpressionAttributeNames={"#pk": PARTITION_KEY, "#sk": SORT_KEY},
            ExpressionAttributeValues={
                ":ref": to_attr(order_reference),
                ":order": to_attr(ORDER_RECORD),
            },
            ConsistentRead=True,
        )
        raws = page.get("Items", [])
        return {k: deserializer.deserialize(v) for k, v in raws[0].items()} if raws else None

    def by_status(
        self, status: OrderStatus, *, limit: int, after: dict[str, Any] | None = None
    ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        """Orders in ``status``, newest in it first: a page of at most ``limit`` order records
        (the index's attributes) and the key to continue after, if there may be more."""
        arguments: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": STATUS_INDEX,
            "KeyConditionExpression": "#status = :status",
            "ExpressionAttributeNames": {"#status": "status"},
            "ExpressionAttributeValues": {":status": to_attr(status.value)},
            "ScanIndexForward": False,
            "Limit": limit,
        }
        if after is not None:
            arguments["ExclusiveStartKey"] = {k: to_attr(v) for k, v in after.items()}
        page = self._client.query(**arguments)
        orders = [
            {k: deserializer.deserialize(v) for k, v in raw.items() if k != SORT_KEY}
            for raw in page.get("Items", [])
        ]
        last = page.get("LastEvaluatedKey")
        return orders, {k: deserializer.deserialize(v) for k, v in last.items()} if last else None

    # -- helpers ------------------------------------------------------------------------------

    def _update_owned(
        self,
        order_reference: str,
        execution_id: str,
        values: dict[str, Any],
        *,
        stages: tuple[OrderStage, ...],
    ) -> dict[str, Any]:
        """Record a running stage, if this execution owns the order, it is still running and its
        stage is one of ``stages`` (not past the step). Returns the order record's attributes
        that this write did not set (``attempt``, ...)."""
        placeholders = ", ".join(f":st{i}" for i in range(len(stages)))
        return self._conditional_update(
            order_reference,
            execution_id,
            values,
            # A cancelled order's next step stops it (OrderCancelled).
            condition=(
                "attribute_exists(#pk) AND execution_id = :exec AND #c_status IN (:run0, :run1) "
                f"AND #c_stage IN ({placeholders}) AND attribute_not_exists(cancel_requested)"
            ),
            condition_values={f":st{i}": stage.value for i, stage in enumerate(stages)},
        )

    def _end(
        self,
        order_reference: str,
        execution_id: str,
        status: OrderStatus,
        values: dict[str, Any],
        *,
        ended_at: tuple[str, str],
        may_create: bool = False,
        unless_cancelled: bool = False,
    ) -> None:
        """Give the order a final status, if this execution owns it and it is still running, or
        already has this very status (a retried step finishing its job: the write is the same
        and its event goes out again, at least once). Never from one final status to another.
        ``may_create``: an order that failed before it was stored gets a record now."""
        condition = "execution_id = :exec AND #c_status IN (:run0, :run1, :final)"
        if unless_cancelled:
            condition += " AND attribute_not_exists(cancel_requested)"
        self._conditional_update(
            order_reference,
            execution_id,
            {"status": status.value, "stage": status.value, **values},
            condition=f"attribute_not_exists(#pk) OR ({condition})"
            if may_create
            else f"attribute_exists(#pk) AND {condition}",
            condition_values={":final": status.value},
            set_if_absent={ended_at[0]: ended_at[1], "created_at": ended_at[1]}
            if may_create
            else {ended_at[0]: ended_at[1]},
            # In its final status since it first got there: a retried write keeps the time.
            copy_if_absent={STATUS_SINCE: ended_at},
        )

    def _conditional_update(
        self,
        order_reference: str,
        execution_id: str,
        values: dict[str, Any],
        *,
        condition: str,
        condition_values: dict[str, Any],
        set_if_absent: dict[str, Any] | None = None,
        copy_if_absent: dict[str, tuple[str, Any]] | None = None,
    ) -> dict[str, Any]:
        names = {"#c_status": "status"}
        if "#c_stage" in condition:
            names["#c_stage"] = "stage"
        try:
            return self._update(
                order_reference,
                values,
                condition=condition,
                condition_values={":exec": execution_id, **running_values(), **condition_values},
                condition_names=names,
                set_if_absent=set_if_absent,
                copy_if_absent=copy_if_absent,
            )
        except ClientError as err:
            if is_condition_failure(err):
                wanted = str(values.get("stage") or values.get("status"))
                raise refusal(err, order_reference, execution_id, wanted) from err
            raise

    def _update(
        self,
        order_reference: str,
        values: dict[str, Any],
        *,
        condition: str,
        condition_values: dict[str, Any],
        condition_names: dict[str, str] | None = None,
        set_if_absent: dict[str, Any] | None = None,
        copy_if_absent: dict[str, tuple[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """SET ``values``; ``set_if_absent`` only where the attribute is absent;
        ``copy_if_absent`` {target: (source, default)}: target = source, or default while the
        source is absent (as it was before this write). Returns the ``attempt`` the record has
        (a projection of what was there, at no extra capacity)."""
        names = {"#pk": PARTITION_KEY, **(condition_names or {})}
        attr_values = dict(condition_values)
        sets = []
        for index, (key, value) in enumerate(values.items()):
            names[f"#f{index}"] = key
            attr_values[f":f{index}"] = value
            sets.append(f"#f{index} = :f{index}")
        for index, (key, value) in enumerate((set_if_absent or {}).items()):
            names[f"#n{index}"] = key
            attr_values[f":n{index}"] = value
            sets.append(f"#n{index} = if_not_exists(#n{index}, :n{index})")
        for index, (target, (source, default)) in enumerate((copy_if_absent or {}).items()):
            names[f"#t{index}"] = target
            names[f"#s{index}"] = source
            attr_values[f":t{index}"] = default
            sets.append(f"#t{index} = if_not_exists(#s{index}, :t{index})")
        answer = self._client.update_item(
            TableName=self._table,
            Key=self._key(order_reference),
            UpdateExpression="SET " + ", ".join(sets),
            ConditionExpression=condition,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues={k: to_attr(v) for k, v in attr_values.items()},
            ReturnValues="ALL_OLD",
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
        old = answer.get("Attributes") or {}
        return {"attempt": deserializer.deserialize(old["attempt"])} if "attempt" in old else {}


def running_values() -> dict[str, str]:
    first, second = sorted(RUNNING_STATUSES)
    return {":run0": first.value, ":run1": second.value}


__all__ = ["BATCH_WRITE_LIMIT", "ItemUpdate", "NotOwnerError", "OrdersTable", "StaleStepError"]

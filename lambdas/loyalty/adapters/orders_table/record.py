"""The order record's conditional writes that every step shares: only by the execution that
owns the order, only while it is running and not past the step (the package's docstring says
why)."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from loyalty.adapters.dynamodb import is_condition_failure
from loyalty.adapters.orders_table.access import OrdersTableAccess, deserializer, to_attr
from loyalty.adapters.orders_table.refusals import refusal
from loyalty.order_status import (
    PARTITION_KEY,
    RUNNING_STATUSES,
    STATUS_SINCE,
    OrderStage,
    OrderStatus,
)


class OrderRecordWrites(OrdersTableAccess):
    """The order record's conditional writes."""

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

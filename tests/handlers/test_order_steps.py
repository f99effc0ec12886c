"""Order-step workers: each answers TASK_FINISHED or TASK_FAILED and keeps the order's status."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from loyalty.adapters.orders_table import OrdersTable
from tests.handlers.conftest import BusTap, Context, LoadHandler

ENV = {
    "EVENT_BUS": "default",
    "EVENT_SOURCE": "service-loyalty-order-process",
    "LOYALTY_DOMAIN": "LEGO-LOYALTY",
}

ORDER = {
    "order_reference": "R-100",
    "loyalty_reference": "member-1",
    "merchant_reference": "merchant-1",
    "order_type": "sale",
    "currency": "GBP",
    "lines": [{"sku": "A", "quantity": 1, "unit_price": "10.00"}],
    "vouchers": [{"voucher_code": "V1"}],
}


def step_request(step: str, execution: str = "exec-1", **detail: Any) -> dict[str, Any]:
    return {
        "detail-type": step,
        "detail": {
            "TaskToken": f"token-{step}",
            "order_reference": "R-100",
            "execution_id": execution,
            "order": ORDER,
            **detail,
        },
    }


@pytest.fixture
def worker(load_handler: LoadHandler, orders_table: str) -> Any:
    def load(module: str) -> Any:
        return load_handler(
            f"order_steps.{module}", {**ENV, "ORDERS_TABLE_NAME": orders_table}
        ).handler

    return load


@pytest.fixture
def table(orders_table: str) -> OrdersTable:
    return OrdersTable(client=boto3.client("dynamodb"), table_name=orders_table)


def test_validation_failure_is_answered_task_failed_with_field_problems(
    worker: Any, bus_tap: BusTap, lambda_context: Context
) -> None:
    bad = {**ORDER, "lines": [{"sku": "A", "quantity": -1, "unit_price": "10.00"}]}

    worker("validate")(step_request("order.validate", order=bad), lambda_context)

    (answer,) = bus_tap.events()
    assert answer["detail-type"] == "TASK_FAILED"
    assert answer["detail"]["TaskToken"] == "token-order.validate"
    assert answer["detail"]["error"] == "OrderValidationError"
    assert "lines[0].quantity" in answer["detail"]["cause"]


def test_storage_makes_the_execution_the_owner_and_is_idempotent_for_it(
    worker: Any, table: OrdersTable, bus_tap: BusTap, lambda_context: Context
) -> None:
    store = worker("store")

    store(step_request("order.store"), lambda_context)
    store(step_request("order.store"), lambda_context)  # a retried step of the same execution

    answers = bus_tap.events(expect=2)
    assert [a["detail-type"] for a in answers] == ["TASK_FINISHED", "TASK_FINISHED"]
    item = table.get("R-100")
    assert item is not None
    assert (item["status"], item["stage"], item["execution_id"]) == (
        "PROCESSING",
        "STORED",
        "exec-1",
    )
    assert {key: (i["kind"], i["status"]) for key, i in item["items"].items()} == {
        "points": ("sale", "PENDING"),
        "voucher#V1": ("voucher", "PENDING"),
    }


def test_a_second_execution_for_the_same_order_fails_with_duplicate_order(
    worker: Any, table: OrdersTable, bus_tap: BusTap, lambda_context: Context
) -> None:
    store = worker("store")
    store(step_request("order.store"), lambda_context)

    store(step_request("order.store", execution="exec-2"), lambda_context)

    answers = bus_tap.events(expect=2)
    assert answers[1]["detail-type"] == "TASK_FAILED"
    assert answers[1]["detail"]["error"] == "DuplicateOrder"
    assert "exec-1" in answers[1]["detail"]["cause"]
    item = table.get("R-100")
    assert item is not None and item["execution_id"] == "exec-1"


def test_completion_marks_completed_and_announces_it_with_the_answer(
    worker: Any, table: OrdersTable, bus_tap: BusTap, lambda_context: Context
) -> None:
    worker("store")(step_request("order.store"), lambda_context)
    bus_tap.events()
    loyalty = {
        "order_type": "sale",
        "loyalty_reference": "member-1",
        "points": 10,
        "vouchers": [],
        "rewards": [],
    }

    worker("complete")(step_request("order.complete", loyalty=loyalty), lambda_context)

    answers = bus_tap.events(expect=2)
    assert sorted(a["detail-type"] for a in answers) == ["TASK_FINISHED", "order.completed"]
    completed = next(a for a in answers if a["detail-type"] == "order.completed")
    assert completed["detail"]["order_reference"] == "R-100"
    assert completed["detail"]["points"] == 10
    item = table.get("R-100")
    assert item is not None and item["status"] == "COMPLETED"


def test_each_answer_emits_its_step_metrics_with_the_time_since_the_request(
    worker: Any, bus_tap: BusTap, lambda_context: Context, capsys: pytest.CaptureFixture[str]
) -> None:
    requested = (datetime.now(UTC) - timedelta(seconds=2)).isoformat()
    worker("recognise")(step_request("order.recognise", requested_at=requested), lambda_context)
    worker("validate")(
        step_request("order.validate"), lambda_context
    )  # no requested_at: no duration

    blobs = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert [blob["step"] for blob in blobs] == ["order.recognise", "order.validate"]
    assert blobs[0]["StepSucceeded"] == [1.0]
    assert 2000 <= blobs[0]["StepDuration"][0] < 60_000
    assert "StepDuration" not in blobs[1]
    (dimensions,) = blobs[0]["_aws"]["CloudWatchMetrics"][0]["Dimensions"]
    assert "step" in dimensions


def test_a_failure_is_recorded_even_for_an_order_that_was_never_stored(
    worker: Any, table: OrdersTable, bus_tap: BusTap, lambda_context: Context
) -> None:
    error = {"Error": "OrderValidationError", "Cause": "order is invalid: currency: missing"}

    worker("record_failure")(step_request("order.record-failure", error=error), lambda_context)

    answers = bus_tap.events(expect=2)
    failed = next(a for a in answers if a["detail-type"] == "order.failed")
    assert failed["detail"]["error"] == "OrderValidationError"
    assert failed["detail"]["cause"] == "order is invalid: currency: missing"
    item = table.get("R-100")
    assert item is not None
    assert (item["status"], item["error"]) == ("FAILED", "OrderValidationError")


def test_a_duplicate_execution_never_overwrites_the_owners_status(
    worker: Any, table: OrdersTable, bus_tap: BusTap, lambda_context: Context
) -> None:
    worker("store")(step_request("order.store"), lambda_context)
    error = {"Error": "DuplicateOrder", "Cause": "..."}

    worker("record_failure")(
        step_request("order.record-failure", execution="exec-2", error=error), lambda_context
    )

    answers = bus_tap.events(expect=3)
    assert "order.failed" not in [a["detail-type"] for a in answers]
    item = table.get("R-100")
    assert item is not None and item["status"] == "PROCESSING"

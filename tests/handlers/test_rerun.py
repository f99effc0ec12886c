"""An operator re-runs a FAILED order (``POST /orders/{reference}/actions/retry``): what the
caller is answered, what the order record becomes, and the pieces a re-run relies on (the orders
table's restart and resume, ``without_applied``)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from loyalty.adapters.orders_table import ItemUpdate, NotOwnerError, OrdersTable, StaleStepError
from loyalty.domain.orders import RewardRef, VoucherRef
from loyalty.domain.transform import LoyaltyInstructions, without_applied
from loyalty.naming import execution_arn_for
from loyalty.order_status import ItemStatus, OrderStage, OrderStatus
from tests.handlers import test_order_api, test_order_steps
from tests.handlers.conftest import BusTap, Context

# The Order API as test_order_api drives it: ``api(method, path, body)`` -> (status, body).
api = test_order_api.api
tables = test_order_api.tables
# The order-step workers as test_order_steps loads them: ``worker("store")`` -> its handler.
worker = test_order_steps.worker

STATE_MACHINE_ARN = "arn:aws:states:us-east-1:123456789012:stateMachine:orders"
"""The machine the ``api`` fixture's handler starts executions of."""
REVIEWER = "arn:aws:iam::123456789012:user/reviewer"
"""The caller of every ``api`` request."""
REF = "RR-1"
ORDER = {**test_order_api.ORDER, "order_reference": REF}


def first_execution(reference: str = REF) -> str:
    return execution_arn_for(STATE_MACHINE_ARN, reference, 1)


def ago(seconds: float) -> str:
    return (datetime.now(UTC) - timedelta(seconds=seconds)).isoformat(timespec="milliseconds")


FAILED_AGO = 60
"""When the failures of these tests happened, in seconds ago."""


@pytest.fixture
def state_machine(api: Any) -> str:
    """The ``orders`` machine in moto: an execution whose input has ``fail`` fails, any other
    succeeds at once."""
    definition = {
        "StartAt": "Check",
        "States": {
            "Check": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.fail", "IsPresent": True, "Next": "Fail"}],
                "Default": "Done",
            },
            "Fail": {"Type": "Fail", "Error": "OrderValidationError", "Cause": "invalid"},
            "Done": {"Type": "Succeed"},
        },
    }
    arn = boto3.client("stepfunctions").create_state_machine(
        name="orders",
        definition=json.dumps(definition),
        roleArn="arn:aws:iam::123456789012:role/x",
    )["stateMachineArn"]
    assert arn == STATE_MACHINE_ARN
    return str(arn)


@pytest.fixture
def responses(api: Any, monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Every raw response of the handler (``api`` returns only status and body; the headers
    are here)."""
    seen: list[dict[str, Any]] = []
    handler = api.module.handler

    def recording(event: dict[str, Any], context: Any) -> dict[str, Any]:
        response: dict[str, Any] = handler(event, context)
        seen.append(response)
        return response

    monkeypatch.setattr(api.module, "handler", recording)
    return seen


@pytest.fixture
def table(tables: dict[str, str]) -> OrdersTable:
    return OrdersTable(client=boto3.client("dynamodb"), table_name=tables["orders"])


def header(response: dict[str, Any], name: str) -> str | None:
    single = response.get("headers") or {}
    multi = response.get("multiValueHeaders") or {}
    if name in single:
        return str(single[name])
    return str(multi[name][-1]) if name in multi else None


def store(
    table: OrdersTable,
    reference: str = REF,
    *,
    execution: str | None = None,
    items: dict[str, dict[str, Any]] | None = None,
) -> str:
    """The order as the storage step stores it (attempt 1). Returns its execution."""
    execution = execution or first_execution(reference)
    table.create(
        order_reference=reference,
        execution_id=execution,
        attributes={
            "order_type": "sale",
            "loyalty_reference": "member-1",
            "order": {**ORDER, "order_reference": reference},
        },
        items=items if items is not None else {"points": {"kind": "sale", "status": "PENDING"}},
        now=ago(60),
    )
    return execution


def store_failed(
    table: OrdersTable,
    reference: str = REF,
    *,
    failed_at: str | None = None,
    items: dict[str, dict[str, Any]] | None = None,
    execution: str | None = None,
) -> str:
    """A stored order that ended FAILED (a minute ago, unless ``failed_at``)."""
    execution = store(table, reference, execution=execution, items=items)
    table.fail(
        order_reference=reference,
        execution_id=execution,
        error="VendorRejected",
        cause="voucher#V1 not applied: used",
        now=failed_at or ago(FAILED_AGO),
    )
    return execution


def restart(table: OrdersTable, reference: str, failed: str, attempt: int = 2) -> str:
    """What the retry route does to the order record before it starts the execution."""
    execution = execution_arn_for(STATE_MACHINE_ARN, reference, attempt)
    assert table.restart(
        order_reference=reference,
        failed_execution=failed,
        execution_id=execution,
        attempt=attempt,
        retry={"attempt": attempt, "failed_execution": failed},
        now=ago(0),
    )
    return execution


def describe(execution_arn: str, *, until: str | None = None, wait: float = 5.0) -> dict[str, Any]:
    sfn = boto3.client("stepfunctions")
    deadline = time.monotonic() + wait
    while True:
        execution: dict[str, Any] = sfn.describe_execution(executionArn=execution_arn)
        if until is None or execution["status"] == until or time.monotonic() > deadline:
            return execution
        time.sleep(0.02)


def retry(api: Any, reference: str = REF, body: Any = None) -> tuple[int, dict[str, Any]]:
    answer: tuple[int, dict[str, Any]] = api(
        "POST", f"/orders/{reference}/actions/retry", {} if body is None else body
    )
    return answer


# -- the retry route ------------------------------------------------------------------------


def test_retrying_an_unknown_order_is_404(api: Any, state_machine: str) -> None:
    assert retry(api, "NOPE") == (404, {"message": "no order NOPE"})


def _completed(table: OrdersTable, execution: str) -> None:
    table.complete(order_reference=REF, execution_id=execution, now=ago(1))


def _rejected(table: OrdersTable, execution: str) -> None:
    table.reject(order_reference=REF, execution_id=execution, reason="no receipt", now=ago(1))


def _needs_reconciliation(table: OrdersTable, execution: str) -> None:
    table.fail(
        order_reference=REF,
        execution_id=execution,
        error="VendorOutcomeUnknown",
        cause="lost",
        now=ago(FAILED_AGO),
        status=OrderStatus.NEEDS_RECONCILIATION,
    )


def _awaiting_approval(table: OrdersTable, execution: str) -> None:
    table.await_approval(order_reference=REF, execution_id=execution, reasons=["big"], now=ago(1))


def _processing(table: OrdersTable, execution: str) -> None:
    pass


@pytest.mark.parametrize(
    ("status", "make", "reason"),
    [
        ("COMPLETED", _completed, "it is COMPLETED: there is nothing to re-run"),
        ("REJECTED", _rejected, "a person rejected it"),
        ("NEEDS_RECONCILIATION", _needs_reconciliation, "reconcile it with the vendor first"),
        ("PROCESSING", _processing, "it is still running"),
        ("AWAITING_APPROVAL", _awaiting_approval, "it is still running (waiting for approval)"),
    ],
)
def test_only_a_failed_order_is_re_run_any_other_is_409_saying_why(
    api: Any, state_machine: str, table: OrdersTable, status: str, make: Any, reason: str
) -> None:
    execution = store(table)
    make(table, execution)

    code, body = retry(api, body={"comment": "please"})

    assert code == 409
    assert body["message"].startswith(f"order {REF} cannot be re-run: ")
    assert reason in body["message"]
    assert body["status"] == status
    record = table.order_record(REF)
    assert record is not None
    assert (record["status"], "attempt" in record) == (status, False)  # nothing changed
    assert "retries" not in record


def test_an_order_that_failed_before_it_was_stored_cannot_be_re_run(
    api: Any, state_machine: str
) -> None:
    # Its first execution failed (not recognised, not valid) and no order record exists.
    arn = boto3.client("stepfunctions").start_execution(
        stateMachineArn=state_machine, name=REF, input=json.dumps({"fail": True})
    )["executionArn"]
    assert describe(arn, until="FAILED")["status"] == "FAILED"

    code, body = retry(api)

    assert code == 409
    assert "failed before it was stored" in body["message"]
    assert "new reference" in body["message"]


def test_an_order_whose_validation_failure_was_recorded_cannot_be_re_run(
    api: Any, table: OrdersTable
) -> None:
    # The failure step recorded it (a record without the order): nothing can run again, and the
    # record stays FAILED (a re-run would otherwise be given an order it cannot start).
    table.fail(
        order_reference=REF,
        execution_id="arn:aws:states:us-east-1:123456789012:execution:orders:" + REF,
        error="OrderValidationError",
        cause="lines: at least one line",
        now=ago(60),
    )

    first, second = retry(api), retry(api)

    assert first[0] == second[0] == 409
    assert "failed before it was stored" in first[1]["message"]
    record = table.order_record(REF) or {}
    assert (record["status"], record.get("attempt")) == ("FAILED", None)


def test_a_failed_order_is_re_run_as_attempt_2_and_the_failure_moves_to_retries(
    api: Any,
    state_machine: str,
    table: OrdersTable,
    responses: list[dict[str, Any]],
) -> None:
    failed = store_failed(table)
    before = table.order_record(REF)
    assert before is not None

    code, body = retry(api, body={"comment": "vendor fixed the voucher"})

    assert code == 202, body
    assert body["order_reference"] == REF
    assert (body["status"], body["attempt"]) == ("PROCESSING", 2)
    assert body["execution_arn"].endswith(f":{REF}+2")
    assert body["status_url"] == f"https://api.example.com/v1/orders/{REF}"
    assert header(responses[-1], "Location") == body["status_url"]
    # The new execution runs the order as it was stored.
    started = describe(body["execution_arn"])
    assert json.loads(started["input"])["order"] == ORDER
    assert json.loads(started["input"])["order_reference"] == REF

    record = table.order_record(REF)
    assert record is not None
    assert (record["status"], record["stage"], record["attempt"]) == (
        "PROCESSING",
        "RESTARTED",
        Decimal(2),
    )
    assert record["execution_id"] == body["execution_arn"]
    assert not {"error", "cause", "failed_at"} & set(record)
    (entry,) = record["retries"]
    assert entry["attempt"] == 2
    assert entry["error"] == "VendorRejected"
    assert entry["cause"] == "voucher#V1 not applied: used"
    assert entry["failed_at"] == before["failed_at"]
    assert entry["failed_execution"] == failed
    assert entry["retried_by"] == REVIEWER
    assert entry["comment"] == "vendor fixed the voucher"
    # ...and GET shows the re-run.
    shown = api("GET", f"/orders/{REF}")[1]
    assert (shown["status"], shown["attempt"]) == ("PROCESSING", 2)
    assert "failure" not in shown

    again, answer = retry(api, body={"comment": "twice"})

    assert again == 409
    assert "it is still running" in answer["message"]
    record = table.order_record(REF)
    assert record is not None and len(record["retries"]) == 1


def test_a_retry_without_a_comment_is_accepted(
    api: Any, state_machine: str, table: OrdersTable
) -> None:
    store_failed(table)

    code, body = api("POST", f"/orders/{REF}/actions/retry", {})

    assert (code, body["attempt"]) == (202, 2)
    record = table.order_record(REF)
    assert record is not None and record["retries"][0]["comment"] is None


@pytest.mark.parametrize("body", [{"comment": "x" * 501}, {"decision": "approve"}, "nope"])
def test_a_bad_retry_body_is_400_and_changes_nothing(
    api: Any, state_machine: str, table: OrdersTable, body: Any
) -> None:
    store_failed(table)

    code, _ = retry(api, body=body)

    assert code == 400
    record = table.order_record(REF)
    assert record is not None and record["status"] == "FAILED"


def test_a_re_run_given_the_order_but_never_started_is_started_by_the_next_retry(
    api: Any, state_machine: str, table: OrdersTable
) -> None:
    # The API restarted the record, then stopped before starting the execution.
    failed = store_failed(table)
    execution = restart(table, REF, failed)
    sfn = boto3.client("stepfunctions")
    with pytest.raises(sfn.exceptions.ExecutionDoesNotExist):
        sfn.describe_execution(executionArn=execution)

    code, body = retry(api)

    assert code == 202, body
    assert (body["attempt"], body["execution_arn"]) == (2, execution)
    assert describe(execution)["executionArn"] == execution
    record = table.order_record(REF)
    assert record is not None
    assert (record["attempt"], len(record["retries"])) == (2, 1)  # no second restart
    # Once started, the order is simply running.
    assert retry(api)[0] == 409


def test_a_re_run_that_could_not_be_started_is_503_and_the_next_retry_starts_it(
    api: Any, state_machine: str, table: OrdersTable, monkeypatch: pytest.MonkeyPatch
) -> None:
    store_failed(table)

    def throttled(**kwargs: Any) -> None:
        raise ClientError({"Error": {"Code": "ThrottlingException"}}, "StartExecution")

    with monkeypatch.context() as patched:
        patched.setattr(api.module.sfn, "start_execution", throttled)
        code, body = retry(api, body={"comment": "first try"})

    assert code == 503
    assert "send the retry again" in body["message"]
    code, body = retry(api, body={"comment": "second try"})
    assert (code, body["attempt"]) == (202, 2), body
    assert describe(body["execution_arn"])["status"] in ("RUNNING", "SUCCEEDED")
    record = table.order_record(REF)
    assert record is not None
    assert [r["comment"] for r in record["retries"]] == ["first try"]  # one re-run, not two


def test_the_re_runs_storage_step_keeps_what_the_vendor_applied(
    worker: Any, table: OrdersTable, bus_tap: BusTap, lambda_context: Context
) -> None:
    store_step = worker("store")
    store_step(test_order_steps.step_request("order.store", execution="exec-1"), lambda_context)
    bus_tap.events()
    table.mark_item(
        order_reference="R-100", item_key="points", status=ItemStatus.SUBMITTED, now=ago(30)
    )
    table.mark_item(
        order_reference="R-100",
        item_key="voucher#V1",
        status=ItemStatus.ERROR,
        now=ago(30),
        attributes={"error": "VendorRejected", "reason": "used"},
    )
    table.fail(
        order_reference="R-100",
        execution_id="exec-1",
        error="VendorRejected",
        cause="c",
        now=ago(9),
    )
    assert table.restart(
        order_reference="R-100",
        failed_execution="exec-1",
        execution_id="exec-2",
        attempt=2,
        retry={"attempt": 2},
        now=ago(1),
    )

    store_step(test_order_steps.step_request("order.store", execution="exec-2"), lambda_context)
    # The failed run's storage step, late (a Lambda retry): changes nothing.
    store_step(test_order_steps.step_request("order.store", execution="exec-1"), lambda_context)

    answers = bus_tap.events(expect=2)
    assert answers[0]["detail-type"] == "TASK_FINISHED"
    assert answers[0]["detail"]["result"] == {"stored": True, "resumed": True}
    order = table.get("R-100")
    assert order is not None
    assert (order["status"], order["stage"], order["execution_id"]) == (
        "PROCESSING",
        "STORED",
        "exec-2",
    )
    assert {key: item["status"] for key, item in order["items"].items()} == {
        "points": "SUBMITTED",
        "voucher#V1": "PENDING",
    }


# -- the orders table -----------------------------------------------------------------------


def test_restart_is_refused_unless_the_order_is_failed_under_that_execution(
    table: OrdersTable,
) -> None:
    def restart_from(reference: str, failed: str) -> bool:
        return table.restart(
            order_reference=reference,
            failed_execution=failed,
            execution_id=execution_arn_for(STATE_MACHINE_ARN, reference, 2),
            attempt=2,
            retry={"attempt": 2},
            now=ago(0),
        )

    running = store(table, "RUNNING")
    failed = store_failed(table, "FAILED-1")

    assert restart_from("RUNNING", running) is False  # not FAILED
    assert restart_from("FAILED-1", "arn:of:another:execution") is False  # not its execution
    assert restart_from("NOBODY", "x") is False
    for reference, status in (("RUNNING", "PROCESSING"), ("FAILED-1", "FAILED")):
        record = table.order_record(reference)
        assert record is not None
        assert (record["status"], "attempt" in record, "retries" in record) == (
            status,
            False,
            False,
        )
    assert restart_from("FAILED-1", failed) is True
    assert restart_from("FAILED-1", failed) is False  # once: it is PROCESSING now


def _failed_with_items(table: OrdersTable) -> tuple[str, str]:
    """RR-1 failed with points applied, voucher V1 refused and voucher V2 never answered;
    restarted for attempt 2. Returns (failed execution, re-run execution)."""
    items = {
        "points": {"kind": "sale", "status": "PENDING"},
        "voucher#V1": {"kind": "voucher", "status": "PENDING"},
        "voucher#V2": {"kind": "voucher", "status": "PENDING"},
    }
    failed = store(table, items=items)
    table.mark_item(
        order_reference=REF,
        item_key="points",
        status=ItemStatus.SUBMITTED,
        now=ago(30),
        attributes={"vendor_references": ["txn-1"]},
    )
    table.mark_item(
        order_reference=REF,
        item_key="voucher#V1",
        status=ItemStatus.ERROR,
        now=ago(30),
        attributes={"error": "VendorRejected", "reason": "used"},
    )
    table.fail(
        order_reference=REF,
        execution_id=failed,
        error="VendorRejected",
        cause="voucher#V1 not applied: used",
        now=ago(FAILED_AGO),
    )
    return failed, restart(table, REF, failed)


PENDING_AGAIN = {
    "points": {"kind": "sale", "status": "PENDING"},
    "voucher#V1": {"kind": "voucher", "status": "PENDING"},
    "voucher#V2": {"kind": "voucher", "status": "PENDING"},
}


def test_resume_keeps_what_the_vendor_applied_and_asks_again_for_the_rest(
    table: OrdersTable,
) -> None:
    _, rerun = _failed_with_items(table)
    assert table.applied_items(REF) == {"points"}

    table.resume(order_reference=REF, execution_id=rerun, items=PENDING_AGAIN, now="t-resume")
    # A retried storage step of the re-run does the same again.
    table.resume(order_reference=REF, execution_id=rerun, items=PENDING_AGAIN, now="t-again")

    order = table.get(REF)
    assert order is not None
    assert (order["status"], order["stage"], order["execution_id"]) == (
        "PROCESSING",
        "STORED",
        rerun,
    )
    items = order["items"]
    assert items["points"]["status"] == "SUBMITTED"
    assert items["points"]["vendor_references"] == ["txn-1"]
    assert {k: v for k, v in items["voucher#V1"].items() if k != "updated_at"} == {
        "kind": "voucher",
        "status": "PENDING",  # its old error is gone with it
        "attempt": 2,  # asked for again by the re-run: only its answers record it
    }
    assert items["voucher#V2"]["status"] == "PENDING"
    assert table.applied_items(REF) == {"points"}


def test_a_late_answer_of_the_failed_run_never_records_what_the_re_run_asked_for_again(
    table: OrdersTable,
) -> None:
    _, rerun = _failed_with_items(table)
    table.resume(order_reference=REF, execution_id=rerun, items=PENDING_AGAIN, now="t-resume")

    def answer(item: str, status: ItemStatus, attempt: int) -> ItemUpdate:
        return table.mark_item(
            order_reference=REF, item_key=item, status=status, now="t-late", attempt=attempt
        )

    # The first run's duplicate answers, delivered late (EventBridge delivers at least once):
    # V1 and V2 are the re-run's now, and points stay applied.
    assert answer("voucher#V1", ItemStatus.SUBMITTED, 1) is ItemUpdate.OTHER_RUN
    assert answer("voucher#V2", ItemStatus.ERROR, 1) is ItemUpdate.OTHER_RUN
    assert answer("points", ItemStatus.ERROR, 1) is ItemUpdate.ALREADY_APPLIED
    order = table.get(REF)
    assert order is not None
    assert {k: v["status"] for k, v in order["items"].items()} == {
        "points": "SUBMITTED",
        "voucher#V1": "PENDING",
        "voucher#V2": "PENDING",
    }

    # The re-run's own answers record them.
    assert answer("voucher#V1", ItemStatus.ERROR, 2) is ItemUpdate.RECORDED
    assert answer("voucher#V2", ItemStatus.SUBMITTED, 2) is ItemUpdate.RECORDED
    order = table.get(REF)
    assert order is not None
    assert order["items"]["voucher#V1"]["status"] == "ERROR"
    assert order["items"]["voucher#V2"]["status"] == "SUBMITTED"


def test_resume_by_another_execution_is_refused_and_changes_nothing(table: OrdersTable) -> None:
    failed, _ = _failed_with_items(table)

    # The failed run's late storage step, and an execution nobody started. (The docstring of
    # ``resume`` says StaleStepError; like every owned write, it names the owner instead.)
    for intruder in (failed, "arn:of:another:execution"):
        with pytest.raises(NotOwnerError, match=r"RR-1\+2"):
            table.resume(order_reference=REF, execution_id=intruder, items=PENDING_AGAIN, now="t")

    order = table.get(REF)
    assert order is not None
    assert order["stage"] == "RESTARTED"
    assert order["items"]["voucher#V1"]["status"] == "ERROR"


def test_resume_of_an_order_that_is_not_being_re_run_is_stale(table: OrdersTable) -> None:
    # A first run past storing (no RESTARTED stage to resume from): never reset.
    execution = store(table, items=dict(PENDING_AGAIN))
    table.record_stage(
        order_reference=REF,
        execution_id=execution,
        stage=OrderStage.TRANSFORMED,
        now="t1",
    )

    with pytest.raises(StaleStepError):
        table.resume(order_reference=REF, execution_id=execution, items=PENDING_AGAIN, now="t2")


def test_create_never_overwrites_a_re_runs_record(table: OrdersTable) -> None:
    _, rerun = _failed_with_items(table)
    table.resume(order_reference=REF, execution_id=rerun, items=PENDING_AGAIN, now="t-resume")

    # Even by the re-run's own execution at STORED (what a first run's retried step may do).
    with pytest.raises(StaleStepError):
        table.create(
            order_reference=REF,
            execution_id=rerun,
            attributes={},
            items=PENDING_AGAIN,
            now="t-create",
        )

    order = table.get(REF)
    assert order is not None
    assert (order["attempt"], order["stage"], len(order["retries"])) == (2, "STORED", 1)
    assert order["items"]["points"]["status"] == "SUBMITTED"
    assert order["created_at"] != "t-create"


# -- what a re-run asks the vendor for --------------------------------------------------------


INSTRUCTIONS = LoyaltyInstructions(
    order_reference=REF,
    order_type="sale",
    loyalty_reference="member-1",
    merchant_reference="merchant-1",
    currency="GBP",
    net_amount=Decimal("10.00"),
    points=10,
    vouchers=[VoucherRef(voucher_code="V1"), VoucherRef(voucher_code="V2")],
    rewards=[RewardRef(reward_code="R1"), RewardRef(reward_code="R2")],
)


def test_without_applied_asks_only_for_what_the_vendor_has_not_applied() -> None:
    rest = without_applied(INSTRUCTIONS, {"points", "voucher#V1", "reward#R2"})

    assert rest.points == 0
    assert [v.voucher_code for v in rest.vouchers] == ["V2"]
    assert [r.reward_code for r in rest.rewards] == ["R1"]
    assert (rest.order_reference, rest.net_amount, rest.currency) == (REF, Decimal("10.00"), "GBP")
    assert INSTRUCTIONS.points == 10 and len(INSTRUCTIONS.vouchers) == 2  # not changed in place


def test_without_applied_keeps_everything_when_nothing_was_applied() -> None:
    assert without_applied(INSTRUCTIONS, set()) == INSTRUCTIONS
    # Keys are per kind: a voucher and a reward of the same code are different items.
    rest = without_applied(INSTRUCTIONS, {"voucher#R1", "reward#V1"})
    assert rest == INSTRUCTIONS


def test_without_applied_of_everything_asks_for_nothing() -> None:
    applied = {"points", "voucher#V1", "voucher#V2", "reward#R1", "reward#R2"}

    rest = without_applied(INSTRUCTIONS, applied)

    assert (rest.points, rest.vouchers, rest.rewards) == (0, [], [])

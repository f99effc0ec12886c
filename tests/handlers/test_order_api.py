"""Order API handler against moto: every status code it answers."""

from __future__ import annotations

import base64
import json
import time
from typing import Any
from urllib.parse import parse_qs

import boto3
import pytest
from aws_cdk.assertions import Template
from botocore.exceptions import ClientError

from loyalty.adapters.actions_table import ActionsTable
from loyalty.adapters.orders_table import OrdersTable
from loyalty.order_status import ItemStatus, OrderStatus
from tests.handlers.conftest import (
    BusTap,
    Context,
    LoadHandler,
    WaitingTask,
    create_table,
    start_waiting_task,
)

ORDER = {
    "order_reference": "API-1",
    "loyalty_reference": "member-1",
    "merchant_reference": "merchant-1",
    "order_type": "sale",
    "currency": "GBP",
    "lines": [{"sku": "A", "quantity": 1, "unit_price": "10.00"}],
}


REVIEWER = "arn:aws:iam::123456789012:user/reviewer"
"""Who calls, unless a test says otherwise (``api(..., caller=...)``)."""
CLERK = "arn:aws:iam::123456789012:user/clerk"


@pytest.fixture
def tables(orders_table: str, order_template: Template, api_template: Template) -> dict[str, str]:
    return {
        "orders": orders_table,
        "actions": create_table(order_template, "Actions", "actions"),
        "submissions": create_table(api_template, "Submissions", "submissions"),
    }


@pytest.fixture
def api(load_handler: LoadHandler, tables: dict[str, str], bus_tap: BusTap) -> Any:
    module = load_handler(
        "order_api.handler",
        {
            "EVENT_BUS": "default",
            "EVENT_SOURCE": "service-loyalty-order-intake",
            "LOYALTY_DOMAIN": "LEGO-LOYALTY",
            "ORDERS_TABLE_NAME": tables["orders"],
            "ACTIONS_TABLE_NAME": tables["actions"],
            "IDEMPOTENCY_TABLE_NAME": tables["submissions"],
            "STATE_MACHINE_ARN": "arn:aws:states:us-east-1:123456789012:stateMachine:orders",
        },
    )

    def call(
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
        caller: str = REVIEWER,
    ) -> tuple[int, dict[str, Any]]:
        path, _, query = path.partition("?")
        resource, parameters = path, {}
        parts = path.strip("/").split("/")
        if len(parts) >= 2:
            parameters["reference"] = parts[1]
            resource = "/orders/{reference}" + ("/actions" if len(parts) >= 3 else "")
        if len(parts) == 4:
            parameters["action"] = parts[3]
            resource += "/{action}"
        event = {
            "resource": resource,
            "path": path,
            "httpMethod": method,
            "headers": headers or {},
            "multiValueHeaders": {},
            "queryStringParameters": {k: v[-1] for k, v in parse_qs(query).items()} or None,
            "pathParameters": parameters or None,
            "requestContext": {
                "resourcePath": resource,
                "httpMethod": method,
                "stage": "v1",
                "domainName": "api.example.com",
                "requestId": "r-1",
                "identity": {"userArn": caller},
            },
            "body": body if isinstance(body, str) or body is None else json.dumps(body),
            "isBase64Encoded": False,
        }
        response = module.handler(event, Context())
        # Every answer, success or error, is one line of JSON ending with a newline (curl).
        assert response["body"].endswith("}\n"), response["body"]
        return response["statusCode"], json.loads(response["body"])

    call.module = module  # type: ignore[attr-defined]
    return call


# -- POST /orders ---------------------------------------------------------------------------


def test_a_valid_order_is_accepted_and_put_on_the_bus(api: Any, bus_tap: BusTap) -> None:
    status, body = api("POST", "/orders", ORDER)

    assert status == 202
    assert body["order_reference"] == "API-1"
    assert body["status_url"] == "https://api.example.com/v1/orders/API-1"
    (received,) = bus_tap.events()
    assert (received["source"], received["detail-type"]) == (
        "service-loyalty-order-intake",
        "order.received",
    )
    assert received["detail"]["order_reference"] == "API-1"
    assert received["detail"]["lines"][0]["unit_price"] == "10.00"


def test_the_same_order_again_is_its_status_and_never_a_second_event(
    api: Any, bus_tap: BusTap
) -> None:
    first = api("POST", "/orders", ORDER, {"Idempotency-Key": "k-1"})
    # Under another key, without one, with its fields in another order: the same order.
    again = [
        api("POST", "/orders", ORDER, {"Idempotency-Key": "k-2"}),
        api("POST", "/orders", ORDER),
        api("POST", "/orders", dict(reversed(list(ORDER.items())))),
    ]

    assert first[0] == 202
    for status, body in again:
        assert status == 200
        assert body["order_reference"] == "API-1"
        assert body["status"] == "ACCEPTED"  # not stored yet: no execution in this test
        assert body["status_url"] == "https://api.example.com/v1/orders/API-1"
        assert body["accepted_at"] == first[1]["accepted_at"]
    assert len(bus_tap.events(wait=0.5, expect=2)) == 1


def test_the_same_order_again_shows_where_it_is_now(
    api: Any, tables: dict[str, str], bus_tap: BusTap
) -> None:
    api("POST", "/orders", ORDER)
    store_order(tables["orders"], status=OrderStatus.COMPLETED)

    status, body = api("POST", "/orders", ORDER)

    assert (status, body["status"]) == (200, "COMPLETED")
    assert len(bus_tap.events(wait=0.5, expect=2)) == 1


def test_another_order_under_an_existing_reference_is_a_conflict_naming_it(
    api: Any, bus_tap: BusTap
) -> None:
    api("POST", "/orders", ORDER)

    status, body = api("POST", "/orders", {**ORDER, "currency": "EUR"})

    assert status == 409
    assert "order API-1 already exists with a different body" in body["message"]
    assert body["status_url"] == "https://api.example.com/v1/orders/API-1"
    assert len(bus_tap.events(wait=0.5, expect=2)) == 1


def test_an_order_that_came_on_the_bus_is_a_conflict_not_a_silent_202(
    api: Any, tables: dict[str, str], bus_tap: BusTap
) -> None:
    store_order(tables["orders"], status=OrderStatus.PROCESSING)  # never submitted here

    status, body = api("POST", "/orders", ORDER)

    assert status == 409
    assert "order API-1 already exists" in body["message"]
    assert bus_tap.events(wait=0.5) == []
    # ...and the refusal is not remembered as a submission: still 409, not a replayed 202.
    assert api("POST", "/orders", ORDER)[0] == 409


def test_a_submission_that_could_not_be_put_is_not_remembered(
    api: Any, bus_tap: BusTap, monkeypatch: pytest.MonkeyPatch
) -> None:
    def bus_down(events: Any) -> None:
        raise RuntimeError("EventBridge is down")

    with monkeypatch.context() as patched:
        patched.setattr(api.module.publisher, "publish", bus_down)
        with pytest.raises(RuntimeError):  # API Gateway answers 502: the client sends it again
            api("POST", "/orders", ORDER)

    status, _ = api("POST", "/orders", ORDER)

    assert status == 202  # not a 200 for an order that was never put
    assert len(bus_tap.events(wait=0.5, expect=2)) == 1


def test_a_post_while_the_first_is_still_putting_the_order_is_a_409_not_a_second_put(
    api: Any, bus_tap: BusTap, monkeypatch: pytest.MonkeyPatch
) -> None:
    meanwhile: list[tuple[int, dict[str, Any]]] = []
    publish = api.module.publisher.publish

    def slow_bus(events: Any) -> None:
        # A second POST arrives while the first has not finished: it waits, then gives up.
        meanwhile.append(api("POST", "/orders", ORDER))
        publish(events)

    monkeypatch.setattr(api.module.publisher, "publish", slow_bus)
    first = api("POST", "/orders", ORDER)

    assert first[0] == 202
    ((status, body),) = meanwhile
    assert status == 409
    assert body["message"] == ("order API-1 is being submitted by another request; read its status")
    assert len(bus_tap.events(wait=0.5, expect=2)) == 1


def test_a_request_that_died_after_putting_the_order_never_lets_another_body_in(
    api: Any, tables: dict[str, str], bus_tap: BusTap, monkeypatch: pytest.MonkeyPatch
) -> None:
    def lost(**kwargs: Any) -> None:
        raise RuntimeError("the function timed out after the put")

    with monkeypatch.context() as patched:
        patched.setattr(api.module.submissions, "mark_put", lost)
        with pytest.raises(RuntimeError):
            api("POST", "/orders", ORDER)  # put on the bus, but the claim still says PUTTING
    other = api("POST", "/orders", {**ORDER, "currency": "EUR"})
    # Its request is long dead (older than the 15 s a claim is held):
    boto3.client("dynamodb").update_item(
        TableName=tables["submissions"],
        Key={"id": {"S": "order#API-1"}},
        UpdateExpression="SET claimed_at = :old",
        ExpressionAttributeValues={":old": {"N": str(time.time() - 60)}},
    )
    stale_other = api("POST", "/orders", {**ORDER, "currency": "EUR"})
    again = api("POST", "/orders", ORDER)

    assert other[0] == stale_other[0] == 409  # another body: never, stale claim or not
    assert "with a different body" in stale_other[1]["message"]
    assert again[0] == 202  # the same order, put again: the starter runs one execution per name
    events = bus_tap.events(wait=0.5, expect=3)
    assert [e["detail"]["currency"] for e in events] == ["GBP", "GBP"]
    assert api("POST", "/orders", ORDER)[0] == 200  # and now it is marked put


def store_order(table: str, *, status: OrderStatus) -> None:
    """ORDER as the order steps store it, then ``status``."""
    orders = OrdersTable(client=boto3.client("dynamodb"), table_name=table)
    orders.create(order_reference="API-1", execution_id="exec-1", attributes={}, items={}, now="t0")
    if status == OrderStatus.COMPLETED:
        orders.complete(order_reference="API-1", execution_id="exec-1", now="t1")


def test_a_bad_order_gets_field_level_messages(api: Any, bus_tap: BusTap) -> None:
    bad = {
        **ORDER,
        "lines": [{"sku": "A", "quantity": 0, "unit_price": "1.999"}],
        "currency": "gbp",
    }

    status, body = api("POST", "/orders", bad)

    assert status == 400
    assert {e["field"] for e in body["errors"]} == {
        "lines[0].quantity",
        "lines[0].unit_price",
        "currency",
    }
    assert bus_tap.events(wait=0.3) == []


@pytest.mark.parametrize(
    ("body", "field"),
    [({**ORDER, "order_type": "exchange"}, "order_type"), ({**ORDER, "surprise": 1}, "surprise")],
)
def test_an_unknown_type_or_field_is_named(api: Any, body: dict[str, Any], field: str) -> None:
    status, answer = api("POST", "/orders", body)
    assert status == 400
    assert [e["field"] for e in answer["errors"]] == [field]


@pytest.mark.parametrize("reference", [" WS-1", "WS-1 ", "WS 1", "WS:1"])
def test_an_order_reference_that_is_not_canonical_is_refused_naming_it(
    api: Any, bus_tap: BusTap, reference: str
) -> None:
    status, answer = api("POST", "/orders", {**ORDER, "order_reference": reference})

    assert status == 400
    ((problem,),) = [[e for e in answer["errors"] if e["field"] == "order_reference"]]
    assert repr(reference) in problem["message"]
    assert bus_tap.events(wait=0.3) == []  # nothing put: no second order under another name


@pytest.mark.parametrize("body", ["not json", "[1, 2]"])
def test_a_body_that_is_not_a_json_object_is_refused(api: Any, body: str) -> None:
    status, answer = api("POST", "/orders", body)
    assert status == 400
    assert "JSON" in answer["message"]


# -- GET /orders/{reference} ----------------------------------------------------------------


# -- GET /orders?status=... ----------------------------------------------------------------


@pytest.fixture
def queue(tables: dict[str, str]) -> list[str]:
    """Five orders awaiting approval (Q-1 the oldest in it, Q-5 the newest), one processing and
    one completed; each with an item record. Returns the waiting ones, newest first."""
    orders = OrdersTable(client=boto3.client("dynamodb"), table_name=tables["orders"])
    for n in range(1, 8):
        reference = f"Q-{n}"
        orders.create(
            order_reference=reference,
            execution_id=f"exec-{n}",
            attributes={"order_type": "return", "currency": "GBP", "net_amount": "600.00"},
            items={"points": {"kind": "return", "status": "PENDING"}},
            now=f"2026-11-30T10:00:0{n}.000+00:00",
        )
        if n <= 5:
            # Entered the queue in reverse order of storing: Q-5 first, Q-1 last.
            orders.await_approval(
                order_reference=reference,
                execution_id=f"exec-{n}",
                reasons=["a big return"],
                now=f"2026-11-30T11:00:0{n}.000+00:00",
            )
    orders.complete(order_reference="Q-7", execution_id="exec-7", now="2026-11-30T12:00:00Z")
    return [f"Q-{n}" for n in range(5, 0, -1)]


def test_staff_list_the_orders_waiting_for_them_newest_first_a_page_at_a_time(
    api: Any, queue: list[str]
) -> None:
    first = api("GET", "/orders?status=AWAITING_APPROVAL&limit=2")
    listed = [o["order_reference"] for o in first[1]["orders"]]
    pages = [listed]
    body = first[1]
    while "next_cursor" in body:
        status, body = api(
            "GET", f"/orders?status=AWAITING_APPROVAL&limit=2&cursor={body['next_cursor']}"
        )
        assert status == 200
        pages.append([o["order_reference"] for o in body["orders"]])

    assert first[0] == 200
    assert [ref for page in pages for ref in page] == queue  # every one once, newest first
    assert all(len(page) <= 2 for page in pages)
    (order,) = [o for o in first[1]["orders"] if o["order_reference"] == "Q-5"]
    assert order == {
        "order_reference": "Q-5",
        "status": "AWAITING_APPROVAL",
        "status_since": "2026-11-30T11:00:05.000+00:00",
        "order_type": "return",
        "currency": "GBP",
        "net_amount": "600.00",
        "approval_reasons": ["a big return"],
        "created_at": "2026-11-30T10:00:05.000+00:00",
        "status_url": "https://api.example.com/v1/orders/Q-5",
    }
    assert first[1]["next_url"].startswith(
        "https://api.example.com/v1/orders?status=AWAITING_APPROVAL&limit=2&cursor="
    )


def test_each_status_has_its_own_list(api: Any, queue: list[str]) -> None:
    assert [o["order_reference"] for o in api("GET", "/orders?status=PROCESSING")[1]["orders"]] == [
        "Q-6"
    ]
    assert [o["order_reference"] for o in api("GET", "/orders?status=COMPLETED")[1]["orders"]] == [
        "Q-7"
    ]
    assert api("GET", "/orders?status=FAILED") == (200, {"status": "FAILED", "orders": []})


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("", "status must be one of PROCESSING, AWAITING_APPROVAL, "),
        ("?status=awaiting", "status must be one of "),
        ("?status=FAILED&limit=0", "limit must be a whole number from 1 to 100"),
        ("?status=FAILED&limit=101", "limit must be a whole number from 1 to 100"),
        ("?status=FAILED&limit=ten", "limit must be a whole number from 1 to 100"),
        ("?status=FAILED&limit=%C2%B2", "limit must be a whole number from 1 to 100"),  # ²
        ("?status=FAILED&cursor=not-a-cursor", "cursor is not one this API gave"),
        # JSON nested a thousand deep (a RecursionError in the parser), and far too long:
        (f"?status=FAILED&cursor={base64.urlsafe_b64encode(b'[' * 1000).decode()}", "cursor"),
        (f"?status=FAILED&cursor={'A' * 5000}", "cursor is not one this API gave (too long)"),
    ],
)
def test_a_bad_list_request_is_a_400_that_says_why(api: Any, query: str, message: str) -> None:
    status, body = api("GET", f"/orders{query}")

    assert status == 400
    assert body["message"].startswith(message)


def test_a_cursor_of_another_list_or_edited_is_refused(api: Any, queue: list[str]) -> None:
    cursor = api("GET", "/orders?status=AWAITING_APPROVAL&limit=1")[1]["next_cursor"]
    key = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    edited = base64.urlsafe_b64encode(json.dumps({**key, "order_reference": 42}).encode()).decode()

    blank = base64.urlsafe_b64encode(json.dumps({**key, "order_reference": ""}).encode()).decode()

    for status_, cursor_ in (
        ("COMPLETED", cursor),
        ("AWAITING_APPROVAL", edited),
        ("AWAITING_APPROVAL", blank),  # DynamoDB would refuse an empty key value: a 500
    ):
        status, body = api("GET", f"/orders?status={status_}&cursor={cursor_}")
        assert status == 400, body
        assert body["message"].startswith("cursor is not one this API gave")


def test_an_unknown_order_is_404(api: Any) -> None:
    assert api("GET", "/orders/NOPE") == (404, {"message": "no order NOPE"})


def test_an_order_shows_its_status_items_and_failure(api: Any, tables: dict[str, str]) -> None:
    orders = OrdersTable(client=boto3.client("dynamodb"), table_name=tables["orders"])
    orders.create(
        order_reference="API-1",
        execution_id="exec-1",
        attributes={"order_type": "sale", "loyalty_reference": "member-1"},
        items={"points": {"kind": "sale", "status": "PENDING"}},
        now="2026-11-23T10:00:00.000+00:00",
    )
    orders.fail(
        order_reference="API-1",
        execution_id="exec-1",
        error="VendorRejected",
        cause="no",
        now="2026-11-23T10:00:01.000+00:00",
    )

    status, body = api("GET", "/orders/API-1")

    assert status == 200
    assert body["status"] == "FAILED"
    assert body["failure"] == {"error": "VendorRejected", "cause": "no"}
    assert body["items"] == {
        "points": {
            "kind": "sale",
            "status": "PENDING",
            "updated_at": "2026-11-23T10:00:00.000+00:00",
        }
    }
    assert body["failed_at"] == "2026-11-23T10:00:01.000+00:00"
    assert isinstance(api("GET", "/orders/API-1")[1]["actions"], list)
    assert "execution_id" not in body


def test_an_order_waiting_for_reconciliation_shows_which_items_are_unknown(
    api: Any, tables: dict[str, str]
) -> None:
    orders = OrdersTable(client=boto3.client("dynamodb"), table_name=tables["orders"])
    orders.create(
        order_reference="API-2",
        execution_id="exec-1",
        attributes={"order_type": "sale"},
        items={"points": {"kind": "sale", "status": "PENDING"}},
        now="t0",
    )
    orders.mark_item(
        order_reference="API-2",
        item_key="points",
        status=ItemStatus.UNKNOWN,
        now="t1",
        attributes={"error": "VendorOutcomeUnknown", "reason": "the answer was lost"},
    )
    orders.fail(
        order_reference="API-2",
        execution_id="exec-1",
        error="VendorOutcomeUnknown",
        cause="the vendor may or may not have applied points",
        now="t2",
        status=OrderStatus.NEEDS_RECONCILIATION,
    )

    status, body = api("GET", "/orders/API-2")

    assert (status, body["status"]) == (200, "NEEDS_RECONCILIATION")
    assert body["failure"]["error"] == "VendorOutcomeUnknown"
    assert body["items"]["points"]["status"] == "UNKNOWN"
    assert body["items"]["points"]["reason"] == "the answer was lost"


# -- actions --------------------------------------------------------------------------------


@pytest.fixture
def pending_approval(tables: dict[str, str], waiting_task: WaitingTask) -> ActionsTable:
    actions = ActionsTable(client=boto3.client("dynamodb"), table_name=tables["actions"])
    orders = OrdersTable(client=boto3.client("dynamodb"), table_name=tables["orders"])
    orders.create(order_reference="API-1", execution_id="exec-1", attributes={}, items={}, now="t0")
    orders.await_approval(
        order_reference="API-1", execution_id="exec-1", reasons=["a big return"], now="t1"
    )
    open_approval(actions, "API-1", waiting_task.token)
    return actions


def open_approval(actions: ActionsTable, reference: str, token: str) -> None:
    """What the approval step's function does: the action waits for a person, for an hour."""
    actions.open(
        order_reference=reference,
        action="approval",
        task_token=token,
        execution_id="exec-1",
        reasons=["return of 799.98 GBP is above the approval threshold of 500.00 GBP"],
        requested_at="2026-11-23T10:00:00.000+00:00",
        expires_at=int(time.time()) + 3600,
    )


def test_actions_are_listed_without_their_token(
    api: Any, pending_approval: ActionsTable, waiting_task: WaitingTask
) -> None:
    status, body = api("GET", "/orders/API-1/actions")

    assert status == 200
    (action,) = body["actions"]
    assert (action["action"], action["status"]) == ("approval", "PENDING")
    assert waiting_task.token not in json.dumps(body)
    assert waiting_task.token not in json.dumps(api("GET", "/orders/API-1")[1])


def test_approving_resumes_the_waiting_step_and_a_second_decision_conflicts(
    api: Any, pending_approval: ActionsTable, waiting_task: WaitingTask
) -> None:
    status, body = api(
        "POST", "/orders/API-1/actions/approval", {"decision": "approve", "comment": "ok"}
    )

    assert (status, body["decision"], body["decided_by"]) == (
        200,
        "approve",
        REVIEWER,
    )
    execution = waiting_task.describe()
    assert execution["status"] == "SUCCEEDED"
    assert json.loads(execution["output"])["decision"] == "approve"
    assert api("GET", "/orders/API-1")[1]["status"] == "PROCESSING"  # out of the staff's queue
    assert api("GET", "/orders?status=AWAITING_APPROVAL")[1]["orders"] == []
    again = api("POST", "/orders/API-1/actions/approval", {"decision": "reject"})
    assert again[0] == 409
    assert "already decided: approve" in again[1]["message"]


def test_a_decision_is_announced_with_who_and_when_and_never_the_token(
    api: Any, pending_approval: ActionsTable, waiting_task: WaitingTask, bus_tap: BusTap
) -> None:
    api("POST", "/orders/API-1/actions/approval", {"decision": "approve", "comment": "ok"})

    (decided,) = bus_tap.events()
    assert (decided["source"], decided["detail-type"]) == (
        "service-loyalty-order-intake",
        "order.decided",
    )
    detail = decided["detail"]
    assert detail["metadata"]["category"] == "order-lifecycle"
    assert {k: detail[k] for k in ("order_reference", "action", "decision", "decided_by")} == {
        "order_reference": "API-1",
        "action": "approval",
        "decision": "approve",
        "decided_by": REVIEWER,
    }
    assert detail["decided_at"].endswith("+00:00") and detail["comment"] == "ok"
    assert "token" not in json.dumps(decided).lower()


def test_the_principal_that_submitted_an_order_may_not_decide_its_approval(
    api: Any, tables: dict[str, str], waiting_task: WaitingTask
) -> None:
    order = {**ORDER, "order_reference": "SOD-1"}
    assert api("POST", "/orders", order, caller=CLERK)[0] == 202
    # ... its approval step opened the action (as the approval function does)
    actions = ActionsTable(client=boto3.client("dynamodb"), table_name=tables["actions"])
    open_approval(actions, "SOD-1", waiting_task.token)

    status, body = api(
        "POST", "/orders/SOD-1/actions/approval", {"decision": "approve"}, caller=CLERK
    )

    assert status == 403
    assert body["message"] == (
        f"{CLERK} submitted order SOD-1 and may not decide its approval: another principal "
        "must (separation of duties)"
    )
    assert waiting_task.describe(wait=0.3)["status"] == "RUNNING"  # nothing was decided
    assert (actions.get("SOD-1", "approval") or {})["status"] == "PENDING"

    status, body = api("POST", "/orders/SOD-1/actions/approval", {"decision": "approve"})
    assert (status, body["decided_by"]) == (200, REVIEWER)
    assert waiting_task.describe()["status"] == "SUCCEEDED"


def test_an_approval_that_could_not_mark_the_order_is_still_a_200(
    api: Any,
    pending_approval: ActionsTable,
    waiting_task: WaitingTask,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def throttled(**kwargs: Any) -> bool:
        raise ClientError({"Error": {"Code": "ThrottlingException"}}, "UpdateItem")

    monkeypatch.setattr(api.module.orders, "approved", throttled)

    status, body = api("POST", "/orders/API-1/actions/approval", {"decision": "approve"})

    assert (status, body["decision"]) == (200, "approve")  # it was delivered: say so
    assert waiting_task.describe()["status"] == "SUCCEEDED"


def test_an_approval_between_opening_the_action_and_marking_the_order_is_not_lost(
    api: Any,
    load_handler: LoadHandler,
    tables: dict[str, str],
    waiting_task: WaitingTask,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    OrdersTable(client=boto3.client("dynamodb"), table_name=tables["orders"]).create(
        order_reference="API-1", execution_id="exec-1", attributes={}, items={}, now="t0"
    )
    step = load_handler(
        "order_steps.await_approval",
        {
            "EVENT_BUS": "default",
            "EVENT_SOURCE": "service-loyalty-order-process",
            "LOYALTY_DOMAIN": "LEGO-LOYALTY",
            "ORDERS_TABLE_NAME": tables["orders"],
            "ACTIONS_TABLE_NAME": tables["actions"],
        },
    )
    mark = step.orders.await_approval

    def approved_in_between(**kwargs: Any) -> None:
        # The action is open; the order does not await approval yet: a person approves now.
        assert api("POST", "/orders/API-1/actions/approval", {"decision": "approve"})[0] == 200
        mark(**kwargs)

    monkeypatch.setattr(step.orders, "await_approval", approved_in_between)
    request = {
        "TaskToken": waiting_task.token,
        "order_reference": "API-1",
        "execution_id": "exec-1",
        "loyalty": {"approval_reasons": ["a big return"]},
    }
    step.handler(request, Context())  # invoked by the state machine with the request itself

    assert api("GET", "/orders/API-1")[1]["status"] == "PROCESSING"
    assert api("GET", "/orders?status=AWAITING_APPROVAL")[1]["orders"] == []


def test_rejecting_fails_the_waiting_step_with_order_rejected(
    api: Any, pending_approval: ActionsTable, waiting_task: WaitingTask
) -> None:
    status, _ = api(
        "POST", "/orders/API-1/actions/approval", {"decision": "reject", "comment": "no receipt"}
    )

    execution = waiting_task.describe()
    assert status == 200
    assert (execution["status"], execution["error"]) == ("FAILED", "OrderRejected")
    assert execution["cause"] == "rejected by arn:aws:iam::123456789012:user/reviewer: no receipt"


def test_a_decision_after_the_deadline_is_gone(
    api: Any, pending_approval: ActionsTable, tables: dict[str, str], waiting_task: WaitingTask
) -> None:
    boto3.client("dynamodb").update_item(
        TableName=tables["actions"],
        Key={"order_reference": {"S": "API-1"}, "action": {"S": "approval"}},
        UpdateExpression="SET expires_at = :past",
        ExpressionAttributeValues={":past": {"N": str(int(time.time()) - 1)}},
    )

    status, _ = api("POST", "/orders/API-1/actions/approval", {"decision": "approve"})

    assert status == 410
    assert pending_approval.get("API-1", "approval")["status"] == "EXPIRED"  # type: ignore[index]
    assert waiting_task.describe(wait=0.2)["status"] == "RUNNING"


def test_a_decision_on_a_step_that_stopped_waiting_is_gone(
    api: Any, pending_approval: ActionsTable, bus_tap: BusTap
) -> None:
    # GIVEN the approval step already timed out (its token is closed) though the record says PENDING
    timed_out = start_waiting_task(bus_tap, "timed-out", heartbeat=1)
    assert timed_out.describe(wait=5)["status"] == "FAILED"
    pending_approval.open(
        order_reference="API-2",
        action="approval",
        task_token=timed_out.token,
        execution_id="exec-2",
        reasons=[],
        requested_at="t",
        expires_at=int(time.time()) + 3600,
    )

    status, _ = api("POST", "/orders/API-2/actions/approval", {"decision": "approve"})

    assert status == 410
    assert pending_approval.get("API-2", "approval")["status"] == "EXPIRED"  # type: ignore[index]


def test_deciding_on_an_unknown_action_is_404(api: Any, pending_approval: ActionsTable) -> None:
    assert api("POST", "/orders/API-1/actions/refund", {"decision": "approve"})[0] == 404
    assert api("POST", "/orders/NOPE/actions/approval", {"decision": "approve"})[0] == 404


@pytest.mark.parametrize("body", [{"decision": "maybe"}, {"decision": "approve", "extra": 1}, {}])
def test_a_bad_decision_body_is_400(
    api: Any, pending_approval: ActionsTable, body: dict[str, Any]
) -> None:
    status, answer = api("POST", "/orders/API-1/actions/approval", body)
    assert status == 400
    assert answer["errors"]

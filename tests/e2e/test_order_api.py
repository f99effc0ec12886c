"""The Order API end to end on the local cloud: orders submitted over HTTP, high-value returns
that wait for a person, decisions taken over the API."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from botocore.credentials import Credentials

from fake_vendor import FakeVendor
from local_cloud.api_client import ApiClient
from local_cloud.cloud import LocalCloud, Tap
from loyalty import contract
from tests.connections import SYN_RETRY_SECONDS, connect_burst
from tests.e2e.conftest import APPROVAL_TIMEOUT, CUSTOMER, sale


@pytest.fixture(autouse=True)
def catalog(vendor: FakeVendor) -> None:
    vendor.reset()
    vendor.add_account(CUSTOMER, balance=5_000)


@pytest.fixture
def api(cloud: LocalCloud) -> ApiClient:
    """The client that submits (and cancels) orders."""
    return cloud.api("client")


CLIENT_ARN = "arn:aws:iam::123456789012:user/local-client"
REVIEWER_ARN = "arn:aws:iam::123456789012:user/local-reviewer"
"""The signing principal of ``staff``'s requests, as API Gateway tells the function."""


@pytest.fixture
def staff(cloud: LocalCloud) -> ApiClient:
    """Who decides approvals: never the principal that submitted the order."""
    return cloud.api("reviewer")


@pytest.fixture
def lifecycle(cloud: LocalCloud) -> Iterator[Tap]:
    yield cloud.tap(
        {
            "source": [contract.Source.ORDER_PROCESS.value],
            "detail": {"metadata": {"category": ["order-lifecycle"]}},
        }
    )


def big_return(reference: str) -> dict[str, object]:
    return sale(
        reference,
        order_type="return",
        original_order_reference="SALE-9",
        lines=[{"sku": "LEGO-10294", "quantity": 1, "unit_price": "679.99"}],
    )


def wait_for_status(
    api: ApiClient, reference: str, status: str, timeout: float = 20
) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while True:
        body = api.order(reference).body
        if body.get("status") == status or time.monotonic() > deadline:
            return body
        time.sleep(0.05)


def waiting_for_staff(api: ApiClient) -> list[str]:
    """Every order in the staff's approval queue, following the pages."""
    found: list[str] = []
    path: str | None = "/orders?status=AWAITING_APPROVAL&limit=2"
    while path is not None:
        page = api.call("GET", path)
        assert page.status == 200, page.body
        found += [o["order_reference"] for o in page.body["orders"]]
        cursor = page.body.get("next_cursor")
        path = f"/orders?status=AWAITING_APPROVAL&limit=2&cursor={cursor}" if cursor else None
    return found


def events_of(tap: Tap, reference: str, detail_type: str) -> list[dict[str, object]]:
    return [
        e["detail"]
        for e in tap.wait_for(
            lambda e: (
                e["detail-type"] == detail_type and e["detail"]["order_reference"] == reference
            )
        )
    ]


def test_a_high_value_return_waits_for_approval_then_completes(
    cloud: LocalCloud,
    api: ApiClient,
    staff: ApiClient,
    vendor: FakeVendor,
    lifecycle: Tap,
    new_reference: Callable[[str], str],
) -> None:
    reference = new_reference("BIGRETURN")

    assert api.submit(big_return(reference)).status == 202
    waiting = wait_for_status(api, reference, "AWAITING_APPROVAL")

    # nothing reached the vendor before a person decided
    assert waiting["approval_reasons"] == [
        "return of 679.99 GBP is above the approval threshold of 500.00 GBP"
    ]
    assert vendor.ledger() == []
    (requested,) = events_of(lifecycle, reference, "order.approval-requested")
    assert requested["action"] == "approval"
    assert reference in waiting_for_staff(api)  # the staff's queue shows it

    decided = staff.decide(reference, "approve", comment="receipt checked")
    outcome = cloud.wait_for_order(reference)
    assert reference not in waiting_for_staff(api)

    assert decided.status == 200
    assert outcome.status == "COMPLETED"
    assert [(e.operation, e.points) for e in vendor.ledger()] == [("deduct", 679)]
    order = api.order(reference).body
    assert (order["status"], order["points"]) == ("COMPLETED", 679)
    assert order["actions"][0]["status"] == "DECIDED"  # type: ignore[index]
    (completed,) = events_of(lifecycle, reference, "order.completed")
    assert (completed["loyalty_reference"], completed["points"], completed["order_type"]) == (
        CUSTOMER,
        679,
        "return",
    )
    # The decision is in the order's timeline: what, and who (the token never is).
    entries = [e for e in cloud.timeline(reference) if e.detail_type == "order.decided"]
    (entry,) = entries
    assert entry.what.startswith("order.decided decided: approve by arn:aws:iam::")
    assert entry.what.endswith(":user/local-reviewer")


def test_a_rejected_return_ends_rejected_with_the_reason_and_no_vendor_effect(
    cloud: LocalCloud,
    api: ApiClient,
    staff: ApiClient,
    vendor: FakeVendor,
    lifecycle: Tap,
    new_reference: Callable[[str], str],
) -> None:
    reference = new_reference("REJECTED")
    api.submit(big_return(reference))
    wait_for_status(api, reference, "AWAITING_APPROVAL")

    assert staff.decide(reference, "reject", comment="no receipt").status == 200
    outcome = cloud.wait_for_order(reference)

    assert (outcome.status, outcome.execution_status) == ("REJECTED", "SUCCEEDED")
    order = api.order(reference).body
    assert order["rejection_reason"] == f"rejected by {REVIEWER_ARN}: no receipt"
    assert vendor.ledger() == []
    (rejected,) = events_of(lifecycle, reference, "order.rejected")
    assert (rejected["loyalty_reference"], rejected["timed_out"]) == (CUSTOMER, False)
    assert staff.decide(reference, "approve").status == 409


def test_nobody_deciding_in_time_rejects_the_order_and_a_late_decision_is_gone(
    cloud: LocalCloud,
    api: ApiClient,
    staff: ApiClient,
    vendor: FakeVendor,
    new_reference: Callable[[str], str],
) -> None:
    reference = new_reference("LATE")
    api.submit(big_return(reference))
    wait_for_status(api, reference, "AWAITING_APPROVAL")

    outcome = cloud.wait_for_order(reference, timeout=APPROVAL_TIMEOUT + 20)
    late = staff.decide(reference, "approve")

    assert outcome.status == "REJECTED"
    assert "timed out" in str(api.order(reference).body["rejection_reason"])
    assert late.status == 410
    assert api.call("GET", f"/orders/{reference}/actions").body["actions"][0]["status"] == "EXPIRED"
    assert vendor.ledger() == []


def test_concurrent_posts_of_one_reference_give_one_202_and_one_execution(
    cloud: LocalCloud, api: ApiClient, new_reference: Callable[[str], str]
) -> None:
    reference = new_reference("DUPPOST")
    order = sale(reference)
    other = sale(reference, currency="EUR")
    bodies = [order] * 5 + [other] * 2  # five retries under different keys, two other orders

    with ThreadPoolExecutor(max_workers=len(bodies)) as pool:
        answers = list(
            pool.map(
                lambda n: api.submit(bodies[n], idempotency_key=f"key-{n}"), range(len(bodies))
            )
        )
    outcome = cloud.wait_for_order(reference)

    (accepted,) = [n for n, a in enumerate(answers) if a.status == 202]
    for n, answer in enumerate(answers):
        if n != accepted:
            same = bodies[n] == bodies[accepted]
            assert answer.status in ((200, 409) if same else (409,)), answer
            assert answer.body["order_reference"] == reference
    executions = cloud.client("stepfunctions").list_executions(
        stateMachineArn=cloud.state_machine_arn
    )["executions"]
    assert [e["name"] for e in executions].count(reference) == 1
    assert outcome.status == "COMPLETED"
    assert api.order(reference).body["currency"] == bodies[accepted]["currency"]

    # Later: the same order is its status, another one under its reference a conflict.
    again = api.submit(bodies[accepted])
    assert (again.status, again.body["status"]) == (200, "COMPLETED")
    assert again.body["status_url"].endswith(f"/orders/{reference}")
    conflict = api.submit(other if bodies[accepted] == order else order)
    assert conflict.status == 409
    assert f"order {reference} already exists" in conflict.body["message"]


def test_a_bad_body_is_refused_at_the_gateway_or_by_the_handler_with_field_messages(
    api: ApiClient,
) -> None:
    missing = api.submit({"order_reference": "X-1"})
    invalid = api.submit(sale("X-2", lines=[{"sku": "A", "quantity": -1, "unit_price": "1.00"}]))

    assert missing.status == 400
    assert "required" in missing.body["errors"][0]["message"]  # type: ignore[index]
    assert invalid.status == 400
    assert invalid.body["errors"] == [
        {"field": "lines[0].quantity", "message": "Input should be greater than 0"}
    ]


def test_unknown_orders_and_routes(api: ApiClient) -> None:
    assert api.call("GET", "/orders").body == {  # the gateway checks required parameters
        "message": "Missing required request parameters: [status]"
    }
    assert api.call("GET", "/orders?status=").status == 400  # present but blank: missing too
    assert api.call("GET", "/orders?status=LOST").status == 400  # the function checks values
    assert api.order("NOBODY").status == 404
    assert api.call("GET", "/nothing").status == 403  # API Gateway: Missing Authentication Token


def test_an_orders_timeline_shows_its_steps_and_who_decided_in_order(
    cloud: LocalCloud, api: ApiClient, staff: ApiClient, new_reference: Callable[[str], str]
) -> None:
    reference = new_reference("TIMELINE")
    assert api.submit(big_return(reference)).status == 202
    wait_for_status(api, reference, "AWAITING_APPROVAL")
    staff.decide(reference, "approve", comment="receipt checked")
    assert cloud.wait_for_order(reference).status == "COMPLETED"

    answer = api.call("GET", f"/orders/{reference}/events")

    assert answer.status == 200, answer.body
    events = answer.body["events"]
    assert [e["at"] for e in events] == sorted(e["at"] for e in events)
    requested = [e["step"] for e in events if e["what"] == "step requested"]
    assert requested == [
        "RecogniseOrder",
        "ValidateOrder",
        "StoreOrder",
        "ProportionDiscounts",
        "TransformOrder",
        "AwaitApproval",
        "ApplyPoints",
        "CompleteOrder",
    ]
    (approved,) = [e for e in events if e["what"] == "approve"]
    assert (approved["by"], approved["comment"]) == (REVIEWER_ARN, "receipt checked")
    # The person's decision sits between the step that waited for it and the vendor's step.
    whats = [e.get("step") or e["what"] for e in events]
    assert whats.index("AwaitApproval") < whats.index("approve") < whats.index("ApplyPoints")
    assert events[-1] == {**events[-1], "what": "ended", "execution_status": "SUCCEEDED"}


def test_the_timeline_of_an_unknown_order_is_404(api: ApiClient) -> None:
    answer = api.call("GET", "/orders/NOBODY-KNOWS-3/events")
    assert (answer.status, answer.body) == (404, {"message": "no order NOBODY-KNOWS-3"})


def test_a_burst_of_clients_connects_without_a_syn_retry(cloud: LocalCloud) -> None:
    # http.server's backlog of 5 dropped part of a burst; API Gateway takes it.
    took = connect_burst(cloud.api_url)
    assert len(took) == 100
    assert max(took) < SYN_RETRY_SECONDS - 0.1


def test_the_api_answers_only_requests_signed_by_a_key_iam_knows(
    cloud: LocalCloud, api: ApiClient, new_reference: Callable[[str], str]
) -> None:
    reference = new_reference("AUTH")
    unsigned = ApiClient(cloud.api_url)
    forged = ApiClient(
        cloud.api_url, credentials=Credentials("AKIAIOSFODNN7EXAMPLE", "not-a-local-secret")
    )

    refused = unsigned.submit(sale(reference))
    assert (refused.status, refused.body) == (403, {"message": "Missing Authentication Token"})
    refused = forged.submit(sale(reference))
    assert (refused.status, refused.body["message"]) == (
        403,
        "The security token included in the request is invalid.",
    )
    assert unsigned.order(reference).status == 403
    assert cloud.order_record(reference) is None  # nothing reached the function

    assert api.submit(sale(reference)).status == 202
    assert cloud.wait_for_order(reference).status == "COMPLETED"  # nothing left for later tests


def test_the_principal_that_submitted_an_order_cannot_approve_it(
    cloud: LocalCloud, api: ApiClient, staff: ApiClient, new_reference: Callable[[str], str]
) -> None:
    reference = new_reference("SOD")
    assert api.submit(big_return(reference)).status == 202
    assert wait_for_status(api, reference, "AWAITING_APPROVAL")["status"] == "AWAITING_APPROVAL"

    own = api.decide(reference, "approve", comment="my own order")

    assert own.status == 403
    assert own.body["message"] == (
        f"{CLIENT_ARN} submitted order {reference} and may not decide its approval: another "
        "principal must (separation of duties)"
    )
    assert api.order(reference).body["status"] == "AWAITING_APPROVAL"  # nothing decided
    decided = staff.decide(reference, "approve", comment="receipt checked")
    assert (decided.status, decided.body["decided_by"]) == (200, REVIEWER_ARN)
    assert cloud.wait_for_order(reference, timeout=30).status == "COMPLETED"


@pytest.mark.skipif(shutil.which("curl") is None, reason="the README's examples use curl")
def test_the_readmes_curl_signing_is_accepted(
    cloud: LocalCloud, new_reference: Callable[[str], str]
) -> None:
    reference = new_reference("CURL")
    client = cloud.api_credentials["client"]
    sign = ["--aws-sigv4", "aws:amz:us-east-1:execute-api"]
    user = ["--user", f"{client.access_key}:{client.secret_key}"]

    def curl(*args: str) -> dict[str, object]:
        done = subprocess.run(
            ["curl", "-s", *sign, *user, *args],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        return dict(json.loads(done.stdout))

    json_body = ["-H", "Content-Type: application/json", "-d", json.dumps(sale(reference))]
    submitted = curl("-X", "POST", f"{cloud.api_url}/orders", *json_body)
    assert submitted["order_reference"] == reference, submitted
    # curl 7.88 (Debian 12's) signs query parameters in the order written where SigV4 sorts them
    # (API Gateway refuses it too): written in sorted order, they sign alike.
    queue = curl(f"{cloud.api_url}/orders?limit=5&status=PROCESSING")
    assert "orders" in queue, queue
    # Seen through, so its credit cannot land in a later test's ledger (the cloud is shared).
    assert cloud.wait_for_order(reference).status == "COMPLETED"

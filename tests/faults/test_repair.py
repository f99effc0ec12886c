"""Putting a failed order right (issue #12): an operator's re-run through the Order API, end to
end on the local cloud with the fast mediator. Each checks the order's record, the vendor's
ledger (nothing applied twice) and that nothing is left in flight."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from fake_vendor import FakeVendor, FaultProfile
from local_cloud.api_client import ApiClient
from local_cloud.cloud import LocalCloud
from local_cloud.run.truth_check import check_truth, vendor_effects
from tests.faults.conftest import CUSTOMER, assert_settled, effects_of

Order = Callable[..., dict[str, Any]]
OUTAGE = {"outages": [[0, 600]]}
"""Longer than the fast mediator's deadline (8 s): every request is answered "not applied"."""


@pytest.fixture
def api(cloud: LocalCloud) -> ApiClient:
    """The client that submits (and cancels) orders."""
    return cloud.api("client")


@pytest.fixture
def staff(cloud: LocalCloud) -> ApiClient:
    """Who decides approvals: never the principal that submitted the order."""
    return cloud.api("reviewer")


@pytest.fixture
def failed_by_an_outage(
    cloud: LocalCloud, vendor: FakeVendor, api: ApiClient
) -> Iterator[Callable[[dict[str, Any]], str]]:
    """Submit an order while the vendor is down past the deadline; once it has FAILED with
    nothing applied, the vendor is back."""

    def fail(order: dict[str, Any]) -> str:
        vendor.faults = FaultProfile.from_dict(OUTAGE)
        reference = str(order["order_reference"])
        assert api.submit(order).status == 202
        failed = cloud.wait_for_order(reference, timeout=40)
        assert (failed.status, failed.error) == ("FAILED", "VendorUnavailable"), failed
        assert effects_of(vendor, reference) == ([], [])
        vendor.faults = FaultProfile()
        return reference

    yield fail


def test_an_order_failed_by_an_outage_is_re_run_to_completed_once_the_vendor_is_back(
    cloud: LocalCloud, vendor: FakeVendor, api: ApiClient, order: Order
) -> None:
    vendor.faults = FaultProfile.from_dict(OUTAGE)
    reference = order()["order_reference"]
    assert api.submit(order(order_reference=reference)).status == 202
    assert cloud.wait_for_order(reference, timeout=40).error == "VendorUnavailable"
    vendor.faults = FaultProfile()
    rerun = api.retry(reference, comment="the vendor is back")
    assert rerun.status == 202, rerun.body
    assert (rerun.body["attempt"], rerun.body["execution_arn"]) == (
        2,
        cloud.execution_arn(reference, 2),
    )
    outcome = cloud.wait_for_order(reference, timeout=40)

    # The mediator had fenced the first run's requests "not applied"; the re-run's keys are its
    # own (``...+2``), so they are new requests to the mediator and the vendor alike.
    assert outcome.status == "COMPLETED", outcome
    assert effects_of(vendor, reference) == ([25], ["V-1"])
    view = api.order(reference).body
    assert view["attempt"] == 2
    (retried,) = view["retries"]
    assert retried["error"] == "VendorUnavailable"
    assert retried["failed_execution"] == cloud.execution_arn(reference)
    assert (retried["comment"], bool(retried["retried_by"]), bool(retried["retried_at"])) == (
        "the vendor is back",
        True,
        True,
    )
    again = api.retry(reference)
    assert again.status == 409
    assert "COMPLETED" in again.body["message"]
    # The timeline tells both runs apart, with the operator's retry between them.
    events = api.call("GET", f"/orders/{reference}/events").body["events"]
    ended = [(e["attempt"], e["execution_status"]) for e in events if e["what"] == "ended"]
    assert ended == [(1, "FAILED"), (2, "SUCCEEDED")]
    (retried_at,) = [i for i, e in enumerate(events) if e["what"] == "retry"]
    assert events[retried_at]["comment"] == "the vendor is back"
    assert events[retried_at - 1]["attempt"] == 1 and events[retried_at + 1]["attempt"] == 2
    assert_settled(cloud, outcome)


def test_a_compensated_order_is_re_run_to_completed_once_its_voucher_is_made_good(
    cloud: LocalCloud, vendor: FakeVendor, api: ApiClient, order: Order
) -> None:
    sale = order(vouchers=[{"voucher_code": "V-1"}, {"voucher_code": "NOPE"}])
    reference = sale["order_reference"]
    assert api.submit(sale).status == 202
    failed = cloud.wait_for_order(reference, timeout=40)
    assert (failed.status, failed.error) == ("FAILED", "VendorRejected")
    assert _net_points(vendor, reference) == 0  # compensated
    vendor.add_voucher("NOPE")  # the vendor's catalogue is put right

    assert api.retry(reference).status == 202
    outcome = cloud.wait_for_order(reference, timeout=40)

    # Everything asked again under the re-run's own keys: a reversed effect is applied anew (the
    # first run's key would only bring back its first answer), NOPE is redeemed at last.
    assert outcome.status == "COMPLETED", outcome
    assert _net_points(vendor, reference) == 25
    assert sorted(
        r.code for r in vendor.active_redemptions() if r.order_reference == reference
    ) == ["NOPE", "V-1"]
    assert {r.idempotency_key for r in vendor.active_redemptions() if r.code == "NOPE"} == {
        f"{reference}:voucher:NOPE+2"
    }
    assert _truthful(cloud, vendor, reference, "order.completed")
    assert_settled(cloud, outcome)


def test_an_approval_granted_before_the_failure_stands_for_the_re_run(
    cloud: LocalCloud,
    vendor: FakeVendor,
    api: ApiClient,
    staff: ApiClient,
    order: Order,
) -> None:
    big_return = order(
        order_type="return",
        original_order_reference="SALE-1",
        lines=[{"sku": "A", "quantity": 1, "unit_price": "900.00"}],
        vouchers=[],
    )
    reference = big_return["order_reference"]
    vendor.faults = FaultProfile.from_dict(OUTAGE)
    assert api.submit(big_return).status == 202
    deadline = time.monotonic() + 20
    while api.order(reference).body.get("status") != "AWAITING_APPROVAL":
        assert time.monotonic() < deadline, api.order(reference).body
        time.sleep(0.05)
    assert staff.decide(reference, "approve", comment="receipt checked").status == 200
    failed = cloud.wait_for_order(reference, timeout=40)
    assert (failed.status, failed.error) == ("FAILED", "VendorUnavailable")
    vendor.faults = FaultProfile()

    assert api.retry(reference).status == 202
    outcome = cloud.wait_for_order(reference, timeout=40)

    assert outcome.status == "COMPLETED", outcome
    assert effects_of(vendor, reference) == ([900], [])
    assert vendor.balance(CUSTOMER) == 10_000 - 900
    (approval,) = api.order(reference).body["actions"]
    assert (approval["decision"], approval["comment"]) == ("approve", "receipt checked")
    assert_settled(cloud, outcome)


def test_concurrent_retries_of_one_order_start_one_re_run(
    cloud: LocalCloud,
    vendor: FakeVendor,
    api: ApiClient,
    order: Order,
    failed_by_an_outage: Callable[[dict[str, Any]], str],
) -> None:
    reference = failed_by_an_outage(order())

    with ThreadPoolExecutor(max_workers=5) as pool:
        answers = list(pool.map(lambda _: api.retry(reference), range(5)))
    outcome = cloud.wait_for_order(reference, timeout=40)

    statuses = sorted(a.status for a in answers)
    assert set(statuses) <= {202, 409} and 202 in statuses, [a.body for a in answers]
    assert {a.body["attempt"] for a in answers if a.status == 202} == {2}
    runs = [arn for arn in cloud.execution_statuses() if reference in arn]
    assert sorted(runs) == sorted(
        [cloud.execution_arn(reference), cloud.execution_arn(reference, 2)]
    )
    assert outcome.status == "COMPLETED"
    assert effects_of(vendor, reference) == ([25], ["V-1"])
    assert_settled(cloud, outcome)


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        ({"comment": 7}, 400, "body"),
        ({"reason": "x"}, 400, "body"),
    ],
)
def test_a_bad_retry_body_is_refused_at_the_gateway(
    api: ApiClient, order: Order, body: dict[str, Any], status: int, says: str
) -> None:
    answer = api.call("POST", f"/orders/{order()['order_reference']}/actions/retry", body)
    assert answer.status == status
    assert answer.body["errors"][0]["field"] == says


def test_retrying_an_unknown_order_is_404(api: ApiClient) -> None:
    answer = api.retry("NOBODY-KNOWS-1")
    assert answer.status == 404
    assert answer.body["message"] == "no order NOBODY-KNOWS-1"


def _net_points(vendor: FakeVendor, reference: str) -> int:
    return sum(
        e.points if e.operation == "credit" else -e.points
        for e in vendor.ledger()
        if e.order_reference == reference
    )


def _events(cloud: LocalCloud, reference: str, until: str) -> list[dict[str, Any]]:
    """The order's events in the event log, once ``until`` is among them (the log's delivery
    runs on its own threads)."""
    deadline = time.monotonic() + 10
    while True:
        found = [event for _, event in cloud.events_by_order().get(reference, [])]
        if any(e["detail-type"] == until for e in found) or time.monotonic() > deadline:
            return found


def _lifecycle(events: list[dict[str, Any]]) -> list[str]:
    return [
        e["detail-type"]
        for e in events
        if e["detail"].get("metadata", {}).get("category") == "order-lifecycle"
    ]


def _truthful(cloud: LocalCloud, vendor: FakeVendor, reference: str, until: str) -> bool:
    events = _events(cloud, reference, until)
    check = check_truth(
        {reference: cloud.order_item(reference)}, {reference: events}, vendor_effects(vendor)
    )
    assert check.ok, check.disagreements
    return check.ok


def test_a_sale_whose_voucher_is_refused_after_points_were_credited_is_compensated_to_net_zero(
    cloud: LocalCloud, vendor: FakeVendor, api: ApiClient, order: Order
) -> None:
    sale = order(vouchers=[{"voucher_code": "V-1"}, {"voucher_code": "NOPE"}])
    reference = sale["order_reference"]
    assert api.submit(sale).status == 202

    outcome = cloud.wait_for_order(reference, timeout=40)

    assert (outcome.status, outcome.error) == ("FAILED", "VendorRejected"), outcome
    assert {k: v["status"] for k, v in outcome.items.items()} == {
        "points": "COMPENSATED",
        "voucher#V-1": "COMPENSATED",
        "voucher#NOPE": "ERROR",
    }
    # Net zero at the vendor: the credit and its reversal, V-1 redeemed and given back.
    assert _net_points(vendor, reference) == 0
    assert vendor.balance(CUSTOMER) == 10_000
    assert [r.code for r in vendor.active_redemptions() if r.order_reference == reference] == []
    assert {r.code for r in vendor.reversals() if r.order_reference == reference} == {"V-1"}
    lifecycle = _lifecycle(_events(cloud, reference, "order.compensated"))
    assert lifecycle[-2:] == ["order.failed", "order.compensated"], lifecycle
    assert _truthful(cloud, vendor, reference, "order.compensated")
    assert_settled(cloud, outcome)


def test_a_compensation_the_vendor_could_not_make_fails_then_an_operator_retry_completes_it(
    cloud: LocalCloud, vendor: FakeVendor, api: ApiClient, order: Order
) -> None:
    sale = order(vouchers=[{"voucher_code": "V-1"}, {"voucher_code": "NOPE"}])
    reference = sale["order_reference"]
    down = threading.Event()

    def outage_once_credited() -> None:
        # The vendor goes down once it has applied the order's first effect: whatever the order
        # still asks for, and every reversal, meets the outage.
        deadline = time.monotonic() + 30
        while (
            time.monotonic() < deadline
            and not any(e.order_reference == reference for e in vendor.ledger())
            and not any(r.order_reference == reference for r in vendor.redemptions())
        ):
            time.sleep(0.005)
        vendor.faults = FaultProfile.from_dict(OUTAGE)
        down.set()

    watcher = threading.Thread(target=outage_once_credited, daemon=True)
    watcher.start()
    assert api.submit(sale).status == 202
    failed = cloud.wait_for_order(reference, timeout=60)
    watcher.join(timeout=5)

    assert down.is_set()
    assert (failed.status, failed.error) == ("COMPENSATION_FAILED", "CompensationFailed"), failed
    still_applied = {k for k, v in failed.items.items() if v["status"] == "COMPENSATION_FAILED"}
    assert still_applied, failed.items  # something was applied, and is still
    assert "still applied" in (failed.cause or "")
    lifecycle = _lifecycle(_events(cloud, reference, "order.compensation-failed"))
    assert lifecycle[-1] == "order.compensation-failed", lifecycle

    vendor.faults = FaultProfile()
    rerun = api.retry(reference, comment="vendor back: finish the reversals")
    assert rerun.status == 202, rerun.body
    outcome = cloud.wait_for_order(reference, timeout=60)

    # The order's own failure again, and nothing of it left at the vendor.
    assert outcome.status == "FAILED", outcome
    assert outcome.error in ("VendorRejected", "VendorUnavailable")
    assert all(v["status"] in ("COMPENSATED", "ERROR") for v in outcome.items.values()), (
        outcome.items
    )
    assert _net_points(vendor, reference) == 0
    assert [r.code for r in vendor.active_redemptions() if r.order_reference == reference] == []
    (retried,) = api.order(reference).body["retries"]
    assert (retried["status"], retried["error"]) == ("COMPENSATION_FAILED", "CompensationFailed")
    assert _truthful(cloud, vendor, reference, "order.compensated")
    assert_settled(cloud, outcome)


def _big_return(order: Order) -> dict[str, Any]:
    return order(
        order_type="return",
        original_order_reference="SALE-1",
        lines=[{"sku": "A", "quantity": 1, "unit_price": "900.00"}],
        vouchers=[],
    )


def _until(api: ApiClient, reference: str, status: str) -> None:
    deadline = time.monotonic() + 20
    while api.order(reference).body.get("status") != status:
        assert time.monotonic() < deadline, api.order(reference).body
        time.sleep(0.02)


def test_an_order_cancelled_while_it_waits_for_approval_ends_cancelled_with_nothing_applied(
    cloud: LocalCloud, vendor: FakeVendor, api: ApiClient, staff: ApiClient, order: Order
) -> None:
    big_return = _big_return(order)
    reference = big_return["order_reference"]
    assert api.submit(big_return).status == 202
    _until(api, reference, "AWAITING_APPROVAL")

    cancelled = api.cancel(reference, comment="customer changed their mind")
    outcome = cloud.wait_for_order(reference, timeout=30)

    assert cancelled.status == 202, cancelled.body
    assert cancelled.body["cancel_requested"]["comment"] == "customer changed their mind"
    assert (outcome.status, outcome.execution_status) == ("CANCELLED", "SUCCEEDED"), outcome
    assert vendor.ledger() == [] and vendor.balance(CUSTOMER) == 10_000
    view = api.order(reference).body
    (approval,) = view["actions"]
    assert approval["decision"] == "cancel"
    assert view["cancel_requested"]["by"] and view["cancelled_at"]
    late = staff.decide(reference, "approve")
    assert late.status == 409 and "cancel" in late.body["message"]
    again = api.cancel(reference)
    assert again.status == 409, again.body
    assert api.retry(reference).status == 409
    assert _lifecycle(_events(cloud, reference, "order.cancelled"))[-1] == "order.cancelled"
    assert _truthful(cloud, vendor, reference, "order.cancelled")
    assert_settled(cloud, outcome)


def test_an_order_cancelled_after_its_effects_were_applied_has_them_reversed(
    cloud: LocalCloud, vendor: FakeVendor, api: ApiClient, order: Order
) -> None:
    # A slow vendor: the cancellation arrives while the effects are being applied.
    vendor.faults = FaultProfile(latency_ms=400)  # under the fast mediator's 2 s read timeout
    sale = order()
    reference = sale["order_reference"]
    assert api.submit(sale).status == 202
    deadline = time.monotonic() + 20
    while api.order(reference).body.get("stage") != "TRANSFORMED":
        assert time.monotonic() < deadline
        time.sleep(0.02)

    cancelled = api.cancel(reference)
    outcome = cloud.wait_for_order(reference, timeout=60)

    assert cancelled.status == 202, cancelled.body
    assert outcome.status == "CANCELLED", outcome
    assert {v["status"] for v in outcome.items.values()} == {"COMPENSATED"}
    # Applied (the vendor was mid-way), then given back.
    assert [e.operation for e in vendor.ledger() if e.order_reference == reference] == [
        "credit",
        "deduct",
    ]
    assert _net_points(vendor, reference) == 0
    assert [r for r in vendor.active_redemptions() if r.order_reference == reference] == []
    assert _truthful(cloud, vendor, reference, "order.compensated")
    assert_settled(cloud, outcome)


def test_cancel_racing_an_approval_one_wins_and_the_order_never_completes(
    cloud: LocalCloud, vendor: FakeVendor, api: ApiClient, staff: ApiClient, order: Order
) -> None:
    for _ in range(3):
        big_return = _big_return(order)
        reference = big_return["order_reference"]
        assert api.submit(big_return).status == 202
        _until(api, reference, "AWAITING_APPROVAL")

        with ThreadPoolExecutor(max_workers=2) as pool:
            approving = pool.submit(staff.decide, reference, "approve")
            cancelling = pool.submit(api.cancel, reference)
            approved, cancelled = approving.result(), cancelling.result()
        outcome = cloud.wait_for_order(reference, timeout=60)

        assert cancelled.status == 202, cancelled.body  # a running order can always be cancelled
        assert outcome.status == "CANCELLED", outcome
        assert _net_points(vendor, reference) == 0
        (decided,) = api.order(reference).body["actions"]
        if approved.status == 200:  # the approval won the action: the effects were reversed
            assert decided["decision"] == "approve"
        else:  # the cancellation won it: nothing was applied
            assert approved.status in (409, 410), approved.body
            assert decided["decision"] == "cancel"
            assert [e for e in vendor.ledger() if e.order_reference == reference] == []
        assert_settled(cloud, outcome)


@pytest.mark.parametrize(("make", "status"), [("unknown", 404), ("completed", 409)])
def test_cancelling_an_unknown_or_ended_order_is_refused_with_the_reason(
    cloud: LocalCloud, api: ApiClient, order: Order, make: str, status: int
) -> None:
    reference = "NOBODY-KNOWS-2"
    if make == "completed":
        sale = order()
        reference = sale["order_reference"]
        assert api.submit(sale).status == 202
        assert cloud.wait_for_order(reference, timeout=30).status == "COMPLETED"

    answer = api.cancel(reference)

    assert answer.status == status
    if status == 409:
        assert answer.body["message"].endswith("cannot be cancelled: it is COMPLETED")


def test_an_approval_step_whose_function_keeps_crashing_fails_the_order_at_once_with_its_name(
    cloud: LocalCloud, vendor: FakeVendor, api: ApiClient, staff: ApiClient, order: Order
) -> None:
    big_return = _big_return(order)
    reference = big_return["order_reference"]
    with cloud.function_fault("AwaitApprovalWorker", times=3) as crashed:
        assert api.submit(big_return).status == 202
        outcome = cloud.wait_for_order(reference, timeout=30)

    # Not seven days of waiting with nobody able to decide: FAILED, named, in seconds.
    assert len(crashed) == 3
    assert (outcome.status, outcome.error) == ("FAILED", "ApprovalNotOpened"), outcome
    assert "InjectedCrashError" in (outcome.cause or "")
    view = api.order(reference).body
    assert view["actions"] == [] and view["failure"]["error"] == "ApprovalNotOpened"
    assert vendor.ledger() == []
    assert staff.decide(reference, "approve").status == 404
    assert_settled(cloud, outcome)


def test_an_approval_step_whose_function_crashed_once_still_asks_a_person(
    cloud: LocalCloud, vendor: FakeVendor, api: ApiClient, staff: ApiClient, order: Order
) -> None:
    big_return = _big_return(order)
    reference = big_return["order_reference"]
    with cloud.function_fault("AwaitApprovalWorker", times=1):
        assert api.submit(big_return).status == 202
        _until(api, reference, "AWAITING_APPROVAL")

    assert staff.decide(reference, "approve").status == 200
    outcome = cloud.wait_for_order(reference, timeout=30)
    assert outcome.status == "COMPLETED", outcome
    assert _net_points(vendor, reference) == -900
    assert_settled(cloud, outcome)

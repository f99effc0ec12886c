"""End to end on the local cloud: the synthesised ASL, rules and handlers, with the fake vendor.

Points arithmetic in these tests is done by hand, independently of the domain code: 1 point per
currency unit of net spend, rounded down per line.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from fake_vendor import FakeVendor
from local_cloud.cloud import LocalCloud
from tests.e2e.conftest import CUSTOMER, sale


@pytest.fixture(autouse=True)
def catalog(vendor: FakeVendor) -> None:
    vendor.reset()
    vendor.add_account(CUSTOMER, balance=1_000)


def test_sale_with_vouchers_and_reward_completes_and_credits_points_once(
    cloud: LocalCloud, vendor: FakeVendor, new_reference: Callable[[str], str]
) -> None:
    # GIVEN a sale of 3 lines with a 20.00 order discount, two vouchers and a reward
    reference = new_reference("SALE")
    # A member of its own: the balance below is this order's doing alone, whatever another
    # test's order still does on the shared cloud.
    member = new_reference("MEMBER")
    vendor.add_account(member, balance=1_000)
    for code in ("V-ONE", "V-TWO"):
        vendor.add_voucher(code)
    vendor.add_reward("R-FREE")
    order = sale(
        reference,
        loyalty_reference=member,
        lines=[
            {"sku": "A", "quantity": 2, "unit_price": "49.99"},  # gross 99.98
            {"sku": "B", "quantity": 1, "unit_price": "99.99"},  # gross 99.99
            {"sku": "C", "quantity": 3, "unit_price": "9.99"},  # gross 29.97
        ],
        discount="20.00",
        vouchers=[{"voucher_code": "V-ONE"}, {"voucher_code": "V-TWO"}],
        rewards=[{"reward_code": "R-FREE"}],
    )

    # WHEN it is received
    cloud.submit_order(order)
    outcome = cloud.wait_for_order(reference)

    # THEN it completes, every item is SUBMITTED, and the vendor applied each effect exactly once.
    # Discount 20.00 over gross 229.94: exact shares 8.6962 / 8.6971 / 2.6068; floors 8.69 / 8.69 /
    # 2.60 leave 0.02, which go to the largest remainders (.71, .68) → 8.69 / 8.70 / 2.61.
    # Nets 91.29 / 91.29 / 27.36 → 91 + 91 + 27 = 209 points.
    assert (outcome.status, outcome.execution_status) == ("COMPLETED", "SUCCEEDED")
    assert {key: item["status"] for key, item in outcome.items.items()} == {
        "points": "SUBMITTED",
        "voucher#V-ONE": "SUBMITTED",
        "voucher#V-TWO": "SUBMITTED",
        "reward#R-FREE": "SUBMITTED",
    }
    assert cloud.wait_idle()
    credits = [e for e in vendor.ledger() if e.order_reference == reference]
    assert [(e.operation, e.points) for e in credits] == [("credit", 209)]
    assert vendor.balance(member) == 1_209
    assert sorted((r.kind, r.code) for r in vendor.redemptions()) == [
        ("reward", "R-FREE"),
        ("voucher", "V-ONE"),
        ("voucher", "V-TWO"),
    ]
    stored = cloud.order_item(reference)
    assert stored is not None
    assert stored["line_discounts"] == ["8.69", "8.70", "2.61"]
    assert stored["points"] == 209


def test_return_deducts_points(
    cloud: LocalCloud, vendor: FakeVendor, new_reference: Callable[[str], str]
) -> None:
    reference = new_reference("RETURN")
    order = sale(
        reference,
        order_type="return",
        original_order_reference="SALE-0001",
        lines=[{"sku": "B", "quantity": 1, "unit_price": "99.99"}],
    )

    cloud.submit_order(order)
    outcome = cloud.wait_for_order(reference)

    assert (outcome.status, outcome.order_type) == ("COMPLETED", "return")
    assert [(e.operation, e.points) for e in vendor.ledger()] == [("deduct", 99)]
    assert vendor.balance(CUSTOMER) == 901


def test_invalid_order_fails_with_named_validation_error_and_no_vendor_call(
    cloud: LocalCloud, vendor: FakeVendor, new_reference: Callable[[str], str]
) -> None:
    reference = new_reference("INVALID")
    order = sale(reference, lines=[{"sku": "A", "quantity": 0, "unit_price": "1.999"}])

    cloud.submit_order(order)
    outcome = cloud.wait_for_order(reference)

    assert (outcome.status, outcome.execution_status) == ("FAILED", "FAILED")
    assert outcome.error == "OrderValidationError"
    assert outcome.cause is not None
    assert "lines[0].quantity" in outcome.cause
    assert "lines[0].unit_price" in outcome.cause
    assert vendor.stats().requests_total == 0


def test_unknown_order_type_fails_with_unknown_order_type(
    cloud: LocalCloud, new_reference: Callable[[str], str]
) -> None:
    reference = new_reference("EXCHANGE")

    cloud.submit_order(sale(reference, order_type="exchange"))
    outcome = cloud.wait_for_order(reference)

    assert (outcome.status, outcome.error) == ("FAILED", "UnknownOrderType")


def test_vendor_error_answer_fails_the_order_cleanly(
    cloud: LocalCloud, vendor: FakeVendor, new_reference: Callable[[str], str]
) -> None:
    # GIVEN a sale whose voucher the vendor does not know
    reference = new_reference("BADVOUCHER")

    cloud.submit_order(sale(reference, vouchers=[{"voucher_code": "UNKNOWN-1"}]))
    outcome = cloud.wait_for_order(reference)

    # THEN the order fails with the vendor's reason, the voucher item says ERROR, and what the
    # vendor did apply (the points, in the parallel branch) was reversed: COMPENSATED, net zero
    assert (outcome.status, outcome.execution_status) == ("FAILED", "FAILED")
    assert outcome.error == "VendorRejected"
    assert outcome.cause is not None
    assert "voucher_not_found" in outcome.cause
    assert outcome.items["voucher#UNKNOWN-1"]["status"] == "ERROR"
    assert outcome.items["voucher#UNKNOWN-1"]["error"] == "VendorRejected"
    assert cloud.wait_idle()
    ledger = [e for e in vendor.ledger() if e.order_reference == reference]
    assert [(e.operation, e.idempotency_key) for e in ledger] == [
        ("credit", f"{reference}:sale:points"),
        ("deduct", f"{reference}:sale-reversal:points"),
    ]
    assert outcome.items["points"]["status"] == "COMPENSATED"


def test_duplicate_order_received_starts_one_execution_and_one_set_of_effects(
    cloud: LocalCloud, vendor: FakeVendor, new_reference: Callable[[str], str]
) -> None:
    # GIVEN the same order.received delivered twice (EventBridge is at least once) and once more
    # as a resubmission with a changed body
    reference = new_reference("DUP")
    vendor.add_voucher("V-DUP")
    order = sale(reference, vouchers=[{"voucher_code": "V-DUP"}])

    cloud.submit_order(order)
    cloud.submit_order(order)
    cloud.submit_order({**order, "currency": "EUR"})
    outcome = cloud.wait_for_order(reference)
    assert cloud.wait_idle()

    # THEN one execution ran and the vendor saw one credit and one redemption
    sfn = cloud.client("stepfunctions")
    executions = sfn.list_executions(stateMachineArn=cloud.state_machine_arn)["executions"]
    assert [e["name"] for e in executions].count(reference) == 1
    assert outcome.status == "COMPLETED"
    assert len([e for e in vendor.ledger() if e.order_reference == reference]) == 1
    assert len([r for r in vendor.redemptions() if r.order_reference == reference]) == 1
    assert cloud.dead_letters() == {}


def test_order_without_reference_goes_to_the_dead_letter_queue_with_the_reason(
    cloud: LocalCloud,
) -> None:
    cloud.submit_order({"loyalty_reference": CUSTOMER, "lines": []})
    assert cloud.wait_idle()

    # Refused by the order starter: its buffer's dead-letter queue, the event as it came, and
    # the reason in the message's ``error`` attribute.
    dead = cloud.dead_letter_reasons()
    assert dead and all(queue.startswith("OrdersReceivedBuffer") for queue in dead), dead
    records = [record for messages in dead.values() for record in messages]
    assert any(
        event["detail"] == {"loyalty_reference": CUSTOMER, "lines": []}
        and reason is not None
        and reason.startswith("InvalidOrderEventError: ")
        and "order_reference must be a non-empty string" in reason
        for event, reason in records
    ), records

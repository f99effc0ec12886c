"""One canonical order reference at every entry: a reference with surrounding whitespace (or a
character the contract does not allow) is refused where it comes in, naming the field, so it can
never split one order into two (effects under " R-1", a record under "R-1" that waits forever)."""

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


def _effects(vendor: FakeVendor, *references: str) -> list[str]:
    return [e.idempotency_key for e in vendor.ledger() if e.order_reference in references]


def test_on_the_bus_it_goes_to_the_dead_letter_queue_and_the_order_can_be_sent_right(
    cloud: LocalCloud, vendor: FakeVendor, new_reference: Callable[[str], str]
) -> None:
    reference = new_reference("WS")

    cloud.submit_order(sale(f" {reference}"))
    assert cloud.wait_idle()

    refused = [
        reason
        for messages in cloud.dead_letter_reasons().values()
        for event, reason in messages
        if event.get("detail", {}).get("order_reference") == f" {reference}"
    ]
    assert len(refused) == 1
    message = refused[0] or ""
    assert "detail.order_reference" in message and "whitespace" in message
    assert cloud.order_outcome(reference).execution_status == "NOT_STARTED"
    assert cloud.order_item(reference) is None and cloud.order_item(f" {reference}") is None
    assert _effects(vendor, reference, f" {reference}") == []

    cloud.submit_order(sale(reference))  # sent right, it is processed as any order
    outcome = cloud.wait_for_order(reference)
    assert outcome.status == "COMPLETED"
    assert _effects(vendor, reference, f" {reference}") == [f"{reference}:sale:points"]


def test_through_the_api_it_is_a_400_naming_the_field(
    cloud: LocalCloud, new_reference: Callable[[str], str]
) -> None:
    api = cloud.api()
    reference = new_reference("WS")

    refused = api.submit(sale(f"{reference} "))

    assert refused.status == 400
    assert any(e["field"] == "order_reference" for e in refused.body["errors"]), refused.body
    assert cloud.order_outcome(reference).execution_status == "NOT_STARTED"
    assert cloud.order_outcome(f"{reference} ").execution_status == "NOT_STARTED"

"""A local cloud with the mediator's timings shortened (deadline 8 s, reconciliation window 4 s,
cool-down 1 s, read timeout 2 s), so every vendor failure mode plays out in seconds, and AWS's
own timings scaled down alike (``TIME_SCALE``: Lambda's asynchronous retries a minute and two
apart become two and four seconds). Same templates, other numbers."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from fake_vendor import FakeVendor
from local_cloud.cloud import LocalCloud, OrderOutcome
from local_cloud.queue_messages import dead_letter_reason
from local_cloud.run.synth import synthesise
from tests.conftest import FIGURES

CUSTOMER = "FAULT-MEMBER"
VOUCHERS = ("V-1", "V-2", "V-3", "V-4", "V-5", "V-6")

TIME_SCALE = 1 / 30
"""A minute of AWS's timing (Lambda's retry delays) in two seconds; scenarios that shorten a
heartbeat to seconds scale it the same way."""

FAST_MEDIATOR = {
    "loyalty:vendorDeadlineSeconds": 8,
    "loyalty:vendorReconcileSeconds": 4,
    "loyalty:vendorRetryBaseSeconds": 0.2,
    "loyalty:vendorRetryMaxSeconds": 1,
    "loyalty:vendorConnectTimeoutSeconds": 0.5,
    # Not sub-second: on two loaded cores (the whole suite in four workers) a healthy answer
    # can take that long, and a timeout makes an applied effect ambiguous, which turns a scenario
    # about an outage or a slow vendor into one about reconciliation.
    "loyalty:vendorReadTimeoutSeconds": 2,
    "loyalty:vendorCircuitMinRequests": 3,
    "loyalty:vendorCircuitWindowSeconds": 10,
    "loyalty:vendorCircuitCooldownSeconds": 1,
    "loyalty:vendorRequestsPerSecond": 50,
}

_references = itertools.count(1)
_figures: list[str] = []


def report_figures(scenario: str, figures: str) -> None:
    """Figures of a scenario, printed in pytest's summary (for the issue notes and
    docs/performance.md: a scenario's order count and what happened to them)."""
    _figures.append(f"{scenario}: {figures}")


@pytest.fixture(autouse=True)
def figures_on_the_report(request: pytest.FixtureRequest) -> Iterator[None]:
    """A test's figures ride on its report, so they reach the summary from pytest-xdist's
    workers too (see tests/conftest.py)."""
    yield
    request.node.user_properties.extend((FIGURES, line) for line in _figures)
    _figures.clear()


@pytest.fixture(scope="package")
def vendor() -> Iterator[FakeVendor]:
    with FakeVendor() as fake:
        yield fake


@pytest.fixture(scope="module")
def cloud(request: pytest.FixtureRequest, vendor: FakeVendor) -> Iterator[LocalCloud]:
    """One local cloud per module (moto's state is process-wide: one at a time), with the
    module's ``CLOUD_CONTEXT`` if it sets one, else ``FAST_MEDIATOR``."""
    context = getattr(request.module, "CLOUD_CONTEXT", FAST_MEDIATOR)
    with LocalCloud(synthesise(context), vendor=vendor, time_scale=TIME_SCALE) as local:
        yield local


@pytest.fixture(autouse=True)
def fresh_state(cloud: LocalCloud, vendor: FakeVendor) -> Iterator[None]:
    """Each scenario starts with a healthy vendor, a closed circuit and an empty quota."""
    vendor.reset()
    vendor.add_account(CUSTOMER, balance=10_000)
    for code in VOUCHERS:
        vendor.add_voucher(code)
    dynamodb = cloud.client("dynamodb")
    table = cloud.output("MediatorStateTableName")
    for item in dynamodb.scan(TableName=table)["Items"]:
        dynamodb.delete_item(TableName=table, Key={"pk": item["pk"]})
    assert cloud.iam is not None
    refused_before = len(cloud.iam.denials)
    yield
    vendor.faults = type(vendor.faults)()
    # Every function's calls were checked against its role: faults must not need more grants.
    assert cloud.iam.denials[refused_before:] == []


@pytest.fixture
def order() -> Callable[..., dict[str, Any]]:
    def make(**changes: Any) -> dict[str, Any]:
        reference = f"FAULT-{next(_references):04d}"
        return {
            "order_reference": reference,
            "loyalty_reference": CUSTOMER,
            "merchant_reference": "M-1",
            "order_type": "sale",
            "currency": "GBP",
            "lines": [{"sku": "A", "quantity": 1, "unit_price": "25.00"}],
            "vouchers": [{"voucher_code": "V-1"}],
            **changes,
        }

    return make


def assert_settled(cloud: LocalCloud, *outcomes: OrderOutcome) -> None:
    """Every order ended, and nothing is left in flight or in a dead-letter queue."""
    assert all(o.terminal for o in outcomes), outcomes
    assert cloud.wait_idle(timeout=30), cloud.in_flight()
    assert not any(cloud.buffered_messages().values())
    assert cloud.dead_letters() == {}


def take_dead_letters(cloud: LocalCloud) -> dict[str, list[dict[str, Any]]]:
    """Every dead-letter message, by queue, removed from its queue (so the next scenario starts
    with none): a scenario that expects some must account for each one."""
    return {
        queue: [body for body, _ in messages]
        for queue, messages in take_dead_letter_reasons(cloud).items()
    }


Refusal = tuple[dict[str, Any], str | None]
"""A dead letter's body and the reason in its ``error`` attribute, if any."""


def take_dead_letter_reasons(cloud: LocalCloud) -> dict[str, list[Refusal]]:
    """As ``take_dead_letters``, each body with the reason an event buffer gave in the message's
    ``error`` attribute (None for a message that was not refused but ran out of receives)."""
    taken = {
        logical_id: take_messages(cloud, url, with_reasons=True)
        for logical_id, url in cloud.queues(dead_letter=True)
    }
    return {logical_id: messages for logical_id, messages in taken.items() if messages}


def take_messages(cloud: LocalCloud, url: str, *, with_reasons: bool = False) -> list[Any]:
    """Every message of a queue (its body, or with ``with_reasons`` its body and the value of
    its ``error`` attribute), removed from it."""
    sqs = cloud.client("sqs")
    taken: list[Any] = []
    while messages := sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=30, MessageAttributeNames=["All"]
    ).get("Messages", []):
        for message in messages:
            body = json.loads(message["Body"])
            taken.append((body, dead_letter_reason(message)) if with_reasons else body)
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return taken


def effects_of(vendor: FakeVendor, reference: str) -> tuple[list[int], list[str]]:
    """The points credited and the codes redeemed for one order, as the vendor recorded them."""
    points = [e.points for e in vendor.ledger() if e.order_reference == reference]
    codes = sorted(r.code for r in vendor.redemptions() if r.order_reference == reference)
    return points, codes

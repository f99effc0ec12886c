"""One local cloud for the end-to-end package: synthesised and deployed once (about 6 s), with
the approval step's timeout shortened to a few seconds (so a late decision can be tested) and a
generous vendor quota (so a 500-voucher order takes seconds)."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from fake_vendor import FakeVendor
from local_cloud.cloud import LocalCloud
from local_cloud.run.synth import synthesise

CUSTOMER = "E2E-MEMBER-1"
APPROVAL_TIMEOUT = 4
E2E_CONTEXT = {
    "loyalty:approvalTimeoutSeconds": APPROVAL_TIMEOUT,
    # a vendor quota that lets an order of hundreds of vouchers through in seconds
    "loyalty:vendorRequestsPerSecond": 500,
    "loyalty:vendorMaxConcurrency": 10,
    "loyalty:voucherConcurrency": 50,
    # a vendor job's status asked every second, not every five
    "loyalty:vendorJobPollSeconds": 1,
}
MERCHANT = "E2E-MERCHANT"

_references = itertools.count(1)


@pytest.fixture(scope="package")
def vendor() -> Iterator[FakeVendor]:
    with FakeVendor() as fake:
        yield fake


TIME_SCALE = 1 / 600
"""Lambda's asynchronous retries (a minute, then two) in a tenth and a fifth of a second: here
only the order starter's refusals are retried (then dead-lettered), and nothing else waits on
them."""


@pytest.fixture(scope="package")
def cloud(vendor: FakeVendor) -> Iterator[LocalCloud]:
    with LocalCloud(
        synthesise(E2E_CONTEXT),
        vendor=vendor,
        time_scale=TIME_SCALE,
    ) as local:
        yield local


@pytest.fixture(autouse=True)
def no_access_denied(cloud: LocalCloud) -> Iterator[None]:
    """Every function's calls are checked against its role; none may be refused (a test that
    refuses one on purpose removes it from ``denials``)."""
    assert cloud.iam is not None
    before = len(cloud.iam.denials)
    yield
    assert cloud.iam.denials[before:] == []


@pytest.fixture
def new_reference() -> Callable[[str], str]:
    """Unique order references, so tests sharing the cloud never see each other's orders."""
    return lambda prefix: f"{prefix}-{next(_references):04d}"


def sale(reference: str, **changes: Any) -> dict[str, Any]:
    order: dict[str, Any] = {
        "order_reference": reference,
        "loyalty_reference": CUSTOMER,
        "merchant_reference": MERCHANT,
        "order_type": "sale",
        "currency": "GBP",
        "lines": [{"sku": "LEGO-42151", "quantity": 2, "unit_price": "49.99"}],
    }
    order.update(changes)
    return {k: v for k, v in order.items() if v is not None}

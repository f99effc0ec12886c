"""Vendor Mediator against the fake vendor on 127.0.0.1: every request gets an answer event."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from pydantic import ValidationError

from local_cloud.fake_vendor import FakeVendor, FaultProfile
from tests.handlers.conftest import BusTap, Context, LoadHandler
from tests.sample_events import load_event

API_KEY = "test-vendor-key"


@pytest.fixture
def vendor() -> Iterator[FakeVendor]:
    with FakeVendor(api_key=API_KEY) as fake:
        fake.add_account("P6IF7YcwQd", balance=100)
        fake.add_voucher("1v8LlBkl")
        yield fake


@pytest.fixture
def handler(load_handler: LoadHandler, vendor: FakeVendor, bus_tap: BusTap) -> Any:
    secret = boto3.client("secretsmanager").create_secret(Name="vendor-key", SecretString=API_KEY)
    module = load_handler(
        "vendor_mediator.handler",
        {
            "EVENT_BUS": "default",
            "EVENT_SOURCE": "service-loyalty-vendor-mediator",
            "VENDOR_BASE_URL": vendor.base_url,
            "VENDOR_API_KEY_SECRET_ID": secret["ARN"],
            "VENDOR_CONNECT_TIMEOUT_SECONDS": "1",
            "VENDOR_READ_TIMEOUT_SECONDS": "0.5",
        },
    )
    return module.handler


def request(kind: str = "voucher", **data: Any) -> dict[str, Any]:
    event = load_event("seed000_step1_voucher_request")
    event["detail"]["metadata"]["type"] = kind
    event["detail"]["data"].update(data)
    return event


def test_seed_voucher_request_is_redeemed_and_answered_submitted(
    handler: Any, vendor: FakeVendor, bus_tap: BusTap, lambda_context: Context
) -> None:
    handler(request(), lambda_context)

    (answer,) = bus_tap.events()
    assert answer["source"] == "service-loyalty-vendor-mediator"
    assert answer["detail-type"] == "event"
    assert answer["detail"]["metadata"] == {
        "domain": "LEGO-LOYALTY",
        "service": "service-loyalty-vendor-mediator",
        "category": "task-status",
        "type": "voucher",
        "status": "submitted",
    }
    seed = load_event("seed000_step3_voucher_submitted")["detail"]["data"]
    assert {k: v for k, v in answer["detail"]["data"].items() if k != "vendor_references"} == seed
    (redemption,) = vendor.redemptions()
    assert answer["detail"]["data"]["vendor_references"] == [redemption.redemption_id]
    assert redemption.idempotency_key == "M101-S76-OP10-T65:voucher:1v8LlBkl"


def test_sale_credits_points(handler: Any, vendor: FakeVendor, lambda_context: Context) -> None:
    handler(request("sale", points=42, vouchers=[]), lambda_context)

    assert vendor.balance("P6IF7YcwQd") == 142


def test_unknown_voucher_is_answered_error_vendor_rejected(
    handler: Any, bus_tap: BusTap, lambda_context: Context
) -> None:
    handler(request(vouchers=[{"voucher_code": "NOPE"}]), lambda_context)

    (answer,) = bus_tap.events()
    assert answer["detail"]["metadata"]["status"] == "error"
    assert answer["detail"]["data"]["error"]["name"] == "VendorRejected"
    assert "voucher_not_found" in answer["detail"]["data"]["error"]["reason"]
    assert answer["detail"]["data"]["loyalty_request_id"] == "AbLhmB7wnOsiBFAq6Cicj2acx8iQ"


def test_a_vendor_that_is_down_is_answered_error_vendor_unavailable(
    handler: Any, vendor: FakeVendor, bus_tap: BusTap, lambda_context: Context
) -> None:
    vendor.faults = FaultProfile(error_rate=1.0)

    handler(request(), lambda_context)

    (answer,) = bus_tap.events()
    assert answer["detail"]["data"]["error"]["name"] == "VendorUnavailable"
    assert vendor.redemptions() == []


def test_a_hung_vendor_is_cut_off_by_the_read_timeout(
    handler: Any, vendor: FakeVendor, bus_tap: BusTap, lambda_context: Context
) -> None:
    vendor.faults = FaultProfile(timeout_rate=1.0, timeout_sleep_seconds=1.0)

    handler(request(), lambda_context)

    (answer,) = bus_tap.events()
    assert answer["detail"]["data"]["error"]["name"] == "VendorUnavailable"
    assert "ReadTimeout" in answer["detail"]["data"]["error"]["reason"]


def test_garbage_from_the_vendor_is_a_protocol_error(
    handler: Any, vendor: FakeVendor, bus_tap: BusTap, lambda_context: Context
) -> None:
    vendor.faults = FaultProfile(garbage_rate=1.0)

    handler(request(), lambda_context)

    (answer,) = bus_tap.events()
    assert answer["detail"]["data"]["error"]["name"] == "VendorProtocolError"


def test_a_malformed_request_raises_and_answers_nothing(
    handler: Any, bus_tap: BusTap, lambda_context: Context
) -> None:
    event = request()
    del event["detail"]["data"]["loyalty_request_id"]

    with pytest.raises(ValidationError, match="loyalty_request_id"):
        handler(event, lambda_context)
    assert bus_tap.events(wait=0.3) == []

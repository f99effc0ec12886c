"""Vendor Mediator handler: a batch from its buffer queue, against the fake vendor on 127.0.0.1."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from local_cloud.fake_vendor import FakeVendor, FaultProfile
from local_cloud.sqs_pollers import sqs_record
from tests.handlers.conftest import BusTap, Context, LoadHandler
from tests.sample_events import load_event

API_KEY = "test-vendor-key"


@dataclass
class Queues:
    url: str
    arn: str
    dlq_url: str

    def deliver(self, *events: dict[str, Any]) -> dict[str, Any]:
        """Send the events and receive them back as the SQS event Lambda would get."""
        sqs = boto3.client("sqs")
        for event in events:
            sqs.send_message(QueueUrl=self.url, MessageBody=json.dumps(event))
        messages = sqs.receive_message(
            QueueUrl=self.url,
            MaxNumberOfMessages=10,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )["Messages"]
        assert len(messages) == len(events)
        return {"Records": [sqs_record(m, self.arn, "us-east-1") for m in messages]}

    def hidden(self) -> int:
        attributes = boto3.client("sqs").get_queue_attributes(
            QueueUrl=self.url, AttributeNames=["ApproximateNumberOfMessagesNotVisible"]
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessagesNotVisible"])

    def dead_letters(self) -> list[dict[str, Any]]:
        return (
            boto3.client("sqs")
            .receive_message(
                QueueUrl=self.dlq_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
            )
            .get("Messages", [])
        )


@pytest.fixture
def vendor() -> Iterator[FakeVendor]:
    with FakeVendor(api_key=API_KEY) as fake:
        fake.add_account("P6IF7YcwQd", balance=100)
        fake.add_voucher("1v8LlBkl")
        yield fake


@pytest.fixture
def queues(aws: None) -> Queues:
    sqs = boto3.client("sqs")
    dlq = sqs.create_queue(QueueName="requests-dlq")["QueueUrl"]
    url = sqs.create_queue(QueueName="requests")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    return Queues(url, arn, dlq)


@pytest.fixture
def handler(load_handler: LoadHandler, vendor: FakeVendor, bus_tap: BusTap, queues: Queues) -> Any:
    secret = boto3.client("secretsmanager").create_secret(Name="vendor-key", SecretString=API_KEY)
    boto3.client("dynamodb").create_table(
        TableName="mediator-state",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    module = load_handler(
        "vendor_mediator.handler",
        {
            "EVENT_BUS": "default",
            "EVENT_SOURCE": "service-loyalty-vendor-mediator",
            "VENDOR_BASE_URL": vendor.base_url,
            "VENDOR_API_KEY_SECRET_ID": secret["ARN"],
            "VENDOR_CONNECT_TIMEOUT_SECONDS": "1",
            "VENDOR_READ_TIMEOUT_SECONDS": "0.5",
            "VENDOR_ATTEMPTS_PER_DELIVERY": "2",
            "VENDOR_RETRY_BASE_SECONDS": "0.05",
            "VENDOR_RETRY_MAX_SECONDS": "2",
            "VENDOR_DEADLINE_SECONDS": "60",
            "MEDIATOR_STATE_TABLE": "mediator-state",
            "REQUESTS_QUEUE_URL": queues.url,
            "REQUESTS_DEAD_LETTER_QUEUE_URL": queues.dlq_url,
        },
    )
    return module.handler


def request(
    kind: str = "voucher", *, age: float = 0, event_id: str = "event-1", **data: Any
) -> dict[str, Any]:
    event = load_event("seed000_step1_voucher_request")
    event["id"] = event_id
    event["time"] = (datetime.now(UTC) - timedelta(seconds=age)).strftime("%Y-%m-%dT%H:%M:%SZ")
    event["detail"]["metadata"]["type"] = kind
    event["detail"]["data"].update(data)
    return event


def failed_ids(result: dict[str, Any]) -> list[str]:
    return [f["itemIdentifier"] for f in result["batchItemFailures"]]


def test_seed_voucher_request_is_redeemed_and_answered_submitted(
    handler: Any, queues: Queues, vendor: FakeVendor, bus_tap: BusTap, lambda_context: Context
) -> None:
    result = handler(queues.deliver(request()), lambda_context)

    assert failed_ids(result) == []
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


def test_sale_credits_points(
    handler: Any, queues: Queues, vendor: FakeVendor, lambda_context: Context
) -> None:
    handler(queues.deliver(request("sale", points=42, vouchers=[])), lambda_context)

    assert vendor.balance("P6IF7YcwQd") == 142


def test_a_permanent_rejection_is_answered_error_at_once(
    handler: Any, queues: Queues, vendor: FakeVendor, bus_tap: BusTap, lambda_context: Context
) -> None:
    handler(queues.deliver(request(vouchers=[{"voucher_code": "NOPE"}])), lambda_context)

    (answer,) = bus_tap.events()
    assert answer["detail"]["metadata"]["status"] == "error"
    assert answer["detail"]["data"]["error"]["name"] == "VendorRejected"
    assert "voucher_not_found" in answer["detail"]["data"]["error"]["reason"]
    assert vendor.stats().requests_total == 1


def test_a_vendor_that_is_down_is_retried_then_put_back_without_an_answer(
    handler: Any, queues: Queues, vendor: FakeVendor, bus_tap: BusTap, lambda_context: Context
) -> None:
    vendor.faults = FaultProfile(error_rate=1.0)
    batch = queues.deliver(request())

    result = handler(batch, lambda_context)

    assert failed_ids(result) == [batch["Records"][0]["messageId"]]
    assert queues.hidden() == 1  # back in the queue, invisible for its backoff delay
    assert vendor.stats().requests_total == 2  # two attempts in this delivery
    assert bus_tap.events(wait=0.3) == []


def test_a_hung_vendor_is_cut_off_by_the_read_timeout_and_retried(
    handler: Any, queues: Queues, vendor: FakeVendor, lambda_context: Context
) -> None:
    vendor.faults = FaultProfile(timeout_rate=1.0, timeout_sleep_seconds=1.0)

    result = handler(queues.deliver(request()), lambda_context)

    assert len(failed_ids(result)) == 1
    vendor.faults = FaultProfile()
    # the effect was applied by the timed-out call; the retry with the same key replays it
    assert len(vendor.redemptions()) == 1


def test_past_its_deadline_a_request_is_answered_vendor_unavailable(
    handler: Any, queues: Queues, vendor: FakeVendor, bus_tap: BusTap, lambda_context: Context
) -> None:
    handler(queues.deliver(request(age=61)), lambda_context)

    (answer,) = bus_tap.events()
    assert answer["detail"]["data"]["error"]["name"] == "VendorUnavailable"
    assert vendor.stats().requests_total == 0


def test_a_redelivered_request_is_answered_once(
    handler: Any, queues: Queues, vendor: FakeVendor, bus_tap: BusTap, lambda_context: Context
) -> None:
    handler(queues.deliver(request()), lambda_context)
    handler(queues.deliver(request()), lambda_context)

    assert len(bus_tap.events(wait=0.5, expect=2)) == 1
    assert len(vendor.redemptions()) == 1


def test_a_malformed_request_goes_to_the_dlq_with_the_reason_and_is_not_answered(
    handler: Any, queues: Queues, bus_tap: BusTap, lambda_context: Context
) -> None:
    bad = request()
    del bad["detail"]["data"]["loyalty_request_id"]

    result = handler(queues.deliver(bad), lambda_context)

    assert failed_ids(result) == []
    (dead,) = queues.dead_letters()
    assert json.loads(dead["Body"]) == bad
    assert "loyalty_request_id" in dead["MessageAttributes"]["error"]["StringValue"]
    assert bus_tap.events(wait=0.3) == []


def test_an_unknown_request_type_is_refused_the_same_way(
    handler: Any, queues: Queues, lambda_context: Context
) -> None:
    handler(queues.deliver(request("exchange")), lambda_context)

    (dead,) = queues.dead_letters()
    assert "type" in dead["MessageAttributes"]["error"]["StringValue"]


def test_one_record_that_must_wait_does_not_fail_its_neighbours(
    handler: Any, queues: Queues, vendor: FakeVendor, bus_tap: BusTap, lambda_context: Context
) -> None:
    vendor.add_voucher("SECOND")
    bad = request(event_id="event-3")
    del bad["detail"]["data"]["merchant_reference"]
    batch = queues.deliver(
        request(event_id="event-1"),
        request(
            event_id="event-2", loyalty_request_id="token-2", vouchers=[{"voucher_code": "NOPE"}]
        ),
        bad,
    )

    result = handler(batch, lambda_context)

    assert failed_ids(result) == []
    assert len(bus_tap.events(expect=2)) == 2
    assert len(queues.dead_letters()) == 1


def test_a_refused_api_key_is_not_the_orders_fault_and_is_fetched_afresh(
    handler: Any, queues: Queues, vendor: FakeVendor, bus_tap: BusTap, lambda_context: Context
) -> None:
    # GIVEN the vendor rotated our key and our secret still holds the old one
    boto3.client("secretsmanager").put_secret_value(SecretId="vendor-key", SecretString="old-key")
    handler(queues.deliver(request()), lambda_context)  # warm: caches the wrong key
    assert bus_tap.events(wait=0.3) == []  # ... the request waits instead of failing
    assert queues.hidden() == 1

    # WHEN the operator puts the right key
    boto3.client("secretsmanager").put_secret_value(SecretId="vendor-key", SecretString=API_KEY)
    handler(
        queues.deliver(request(event_id="event-2", loyalty_request_id="token-2")), lambda_context
    )

    # THEN the next call fetches it afresh and succeeds
    (answer,) = bus_tap.events()
    assert answer["detail"]["metadata"]["status"] == "submitted"

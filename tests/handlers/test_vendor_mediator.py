"""Vendor Mediator handler: a batch from its buffer queue, against the fake vendor on 127.0.0.1."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from fake_vendor import FakeVendor, FaultProfile
from local_cloud.runtime.sqs_pollers import sqs_record
from tests.handlers.conftest import BusTap, Context, LoadHandler
from tests.sample_events import load_event

API_KEY = "test-vendor-key"
DEADLINE = 60
RECONCILE = 30
JOB_POLL = 1
JOB_TIMEOUT = 5
REQUEST_KEY = "request#M101-S76-OP10-T65:voucher:1v8LlBkl"


def trouble_began(seconds_ago: float) -> None:
    """As if the vendor's trouble with the seed request began ``seconds_ago`` (the time a test
    cannot wait for)."""
    boto3.client("dynamodb").update_item(
        TableName="mediator-state",
        Key={"pk": {"S": REQUEST_KEY}},
        UpdateExpression="SET trouble_since = :t",
        ExpressionAttributeValues={":t": {"N": str(time.time() - seconds_ago)}},
    )


@dataclass
class Queues:
    url: str
    arn: str
    dlq_url: str
    reconciliation_url: str

    def deliver(self, *events: dict[str, Any]) -> dict[str, Any]:
        """Send the events and receive them back as the SQS event Lambda would get."""
        sqs = boto3.client("sqs")
        for event in events:
            sqs.send_message(QueueUrl=self.url, MessageBody=json.dumps(event))
        return self.receive(len(events))

    def receive(self, expect: int = 1, *, crash: bool = False) -> dict[str, Any]:
        """Receive what is visible, as the SQS event Lambda would get. ``crash``: as an
        invocation that died with the batch (the messages stay, their receive count grew)."""
        sqs = boto3.client("sqs")
        messages = sqs.receive_message(
            QueueUrl=self.url,
            MaxNumberOfMessages=10,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
            VisibilityTimeout=0 if crash else 30,
        )["Messages"]
        assert len(messages) == expect
        return {"Records": [sqs_record(m, self.arn, "us-east-1") for m in messages]}

    def redeliver(self, batch: dict[str, Any]) -> dict[str, Any]:
        """The requeued records of ``batch``, delivered again now (their delay cut short)."""
        sqs = boto3.client("sqs")
        for record in batch["Records"]:
            sqs.change_message_visibility(
                QueueUrl=self.url, ReceiptHandle=record["receiptHandle"], VisibilityTimeout=0
            )
        return self.receive(len(batch["Records"]))

    def parked_for_reconciliation(self) -> list[dict[str, Any]]:
        return (
            boto3.client("sqs")
            .receive_message(
                QueueUrl=self.reconciliation_url,
                MaxNumberOfMessages=10,
                MessageAttributeNames=["All"],
            )
            .get("Messages", [])
        )

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
    reconciliation = sqs.create_queue(QueueName="reconciliation")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    return Queues(url, arn, dlq, reconciliation)


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
            "VENDOR_DEADLINE_SECONDS": str(DEADLINE),
            "VENDOR_RECONCILE_SECONDS": str(RECONCILE),
            "VENDOR_JOB_POLL_SECONDS": str(JOB_POLL),
            "VENDOR_JOB_TIMEOUT_SECONDS": str(JOB_TIMEOUT),
            "MEDIATOR_STATE_TABLE": "mediator-state",
            "REQUESTS_QUEUE_URL": queues.url,
            "REQUESTS_DEAD_LETTER_QUEUE_URL": queues.dlq_url,
            "RECONCILIATION_QUEUE_URL": queues.reconciliation_url,
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


def test_the_answer_names_the_run_that_asked_and_a_re_run_asks_under_its_own_key(
    handler: Any, queues: Queues, vendor: FakeVendor, bus_tap: BusTap, lambda_context: Context
) -> None:
    rerun = "arn:aws:states:us-east-1:123456789012:execution:orders:M101-S76-OP10-T65+2"
    asked = request()
    asked["resources"] = [rerun]

    handler(queues.deliver(asked), lambda_context)

    (answer,) = bus_tap.events()
    assert answer["resources"] == [rerun]  # the Token Handler records it for this run only
    (redemption,) = vendor.redemptions()
    assert redemption.idempotency_key == "M101-S76-OP10-T65:voucher:1v8LlBkl+2"


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


def test_the_vendors_own_words_stay_in_the_log_and_never_in_the_answer(
    handler: Any,
    queues: Queues,
    bus_tap: BusTap,
    lambda_context: Context,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The vendor's message quotes the member's balance: "account 'P6IF7YcwQd' has 100 points".
    handler(queues.deliver(request("return", points=500, vouchers=[])), lambda_context)

    (answer,) = bus_tap.events()
    assert answer["detail"]["data"]["error"] == {
        "name": "VendorRejected",
        "reason": "the vendor refused it: insufficient_points (HTTP 422)",
    }
    # For the operator, in the mediator's log:
    logged = [getattr(r, "vendor_message", None) for r in caplog.records]
    assert "account 'P6IF7YcwQd' has 100 points; cannot deduct 500" in logged


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


def test_after_a_deadline_of_vendor_trouble_a_request_is_answered_vendor_unavailable(
    handler: Any, queues: Queues, vendor: FakeVendor, bus_tap: BusTap, lambda_context: Context
) -> None:
    vendor.faults = FaultProfile(error_rate=1.0)  # 503: the vendor handled nothing
    first = queues.deliver(request())
    handler(first, lambda_context)  # trouble begins: put back
    trouble_began(DEADLINE + 1)

    handler(queues.redeliver(first), lambda_context)

    (answer,) = bus_tap.events()
    error = answer["detail"]["data"]["error"]
    assert error["name"] == "VendorUnavailable"
    assert "past the 60 s deadline" in error["reason"]
    assert vendor.stats().requests_total == 4  # the verdict came after its own two attempts
    assert vendor.redemptions() == []


def test_a_request_that_waited_long_in_the_queue_is_not_failed_for_it(
    handler: Any, queues: Queues, vendor: FakeVendor, bus_tap: BusTap, lambda_context: Context
) -> None:
    # Put on the bus long ago (it waited for the quota), no vendor trouble so far.
    handler(queues.deliver(request(age=DEADLINE * 10)), lambda_context)

    (answer,) = bus_tap.events()
    assert answer["detail"]["metadata"]["status"] == "submitted"


def test_an_answer_lost_after_the_effect_then_an_outage_is_never_reported_not_applied(
    handler: Any, queues: Queues, vendor: FakeVendor, bus_tap: BusTap, lambda_context: Context
) -> None:
    # GIVEN the vendor applies the redemption, then the answer never arrives (read timeout) ...
    vendor.faults = FaultProfile(timeout_rate=1.0, timeout_sleep_seconds=1.0)
    first = queues.deliver(request())
    handler(first, lambda_context)
    assert len(vendor.redemptions()) == 1
    # ... AND then the vendor goes down for longer than the deadline
    vendor.faults = FaultProfile(error_rate=1.0)
    trouble_began(DEADLINE + 1)

    # WHEN it is delivered again past the deadline: asked again, not answered "unavailable"
    second = queues.redeliver(first)
    handler(second, lambda_context)
    assert bus_tap.events(wait=0.3) == []

    # WHEN the reconciliation window is over too: the answer says "unknown", never "not applied"
    trouble_began(DEADLINE + RECONCILE + 1)
    handler(queues.redeliver(second), lambda_context)

    (answer,) = bus_tap.events()
    assert answer["detail"]["metadata"]["status"] == "error"
    error = answer["detail"]["data"]["error"]
    assert error["name"] == "VendorOutcomeUnknown"
    assert "may have applied" in error["reason"]
    (parked,) = queues.parked_for_reconciliation()
    assert json.loads(parked["Body"])["detail"] == request()["detail"]
    keys = parked["MessageAttributes"]["idempotency_keys"]["StringValue"]
    assert keys == "M101-S76-OP10-T65:voucher:1v8LlBkl"


def test_a_replay_after_a_lost_answer_settles_it_as_applied(
    handler: Any, queues: Queues, vendor: FakeVendor, bus_tap: BusTap, lambda_context: Context
) -> None:
    vendor.faults = FaultProfile(timeout_rate=1.0, timeout_sleep_seconds=1.0)
    first = queues.deliver(request())
    handler(first, lambda_context)
    vendor.faults = FaultProfile()
    trouble_began(DEADLINE + RECONCILE + 1)  # however late: the vendor can say now

    handler(queues.redeliver(first), lambda_context)

    (answer,) = bus_tap.events()
    (redemption,) = vendor.redemptions()
    assert answer["detail"]["metadata"]["status"] == "submitted"
    assert answer["detail"]["data"]["vendor_references"] == [redemption.redemption_id]


def test_a_2xx_without_its_id_is_retried_and_the_replay_gives_the_real_answer(
    handler: Any, queues: Queues, vendor: FakeVendor, bus_tap: BusTap, lambda_context: Context
) -> None:
    vendor.faults = FaultProfile(malformed_success_rate=1.0)

    handler(queues.deliver(request()), lambda_context)

    (answer,) = bus_tap.events()
    (redemption,) = vendor.redemptions()
    assert answer["detail"]["data"]["vendor_references"] == [redemption.redemption_id]


def test_deliveries_that_crashed_do_not_count_against_the_vendor(
    handler: Any, queues: Queues, vendor: FakeVendor, bus_tap: BusTap, lambda_context: Context
) -> None:
    boto3.client("sqs").send_message(QueueUrl=queues.url, MessageBody=json.dumps(request()))
    queues.receive(crash=True)
    queues.receive(crash=True)  # two invocations died with it

    handler(queues.receive(), lambda_context)

    (answer,) = bus_tap.events()
    assert answer["detail"]["metadata"]["status"] == "submitted"
    assert len(vendor.redemptions()) == 1


def test_a_request_that_keeps_crashing_the_mediator_is_parked_in_the_dlq_unanswered(
    handler: Any, queues: Queues, vendor: FakeVendor, bus_tap: BusTap, lambda_context: Context
) -> None:
    boto3.client("sqs").send_message(QueueUrl=queues.url, MessageBody=json.dumps(request()))
    for _ in range(3):
        queues.receive(crash=True)

    result = handler(queues.receive(), lambda_context)

    assert failed_ids(result) == []  # it leaves the buffer queue ...
    (dead,) = queues.dead_letters()  # ... for the dead-letter queue, with the reason
    reason = dead["MessageAttributes"]["error"]["StringValue"]
    assert "failed to finish 3 of them" in reason
    assert bus_tap.events(wait=0.3) == []  # no verdict about the vendor
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


def test_a_request_of_several_codes_is_refused_the_same_way(
    handler: Any, queues: Queues, vendor: FakeVendor, bus_tap: BusTap, lambda_context: Context
) -> None:
    vendor.add_voucher("SECOND")
    several = request(vouchers=[{"voucher_code": "1v8LlBkl"}, {"voucher_code": "SECOND"}])

    handler(queues.deliver(several), lambda_context)

    (dead,) = queues.dead_letters()
    reason = dead["MessageAttributes"]["error"]["StringValue"]
    assert reason == "a voucher request must name exactly one code, not 2"
    assert vendor.redemptions() == [] and bus_tap.events(wait=0.3) == []


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
    assert queues.hidden() == 1  # ... the request waits instead of failing
    assert bus_tap.events(wait=0.3) == []
    boto3.client("sqs").purge_queue(QueueUrl=queues.url)  # (it would come back in a second)

    # WHEN the operator puts the right key
    boto3.client("secretsmanager").put_secret_value(SecretId="vendor-key", SecretString=API_KEY)
    handler(
        queues.deliver(request(event_id="event-2", loyalty_request_id="token-2")), lambda_context
    )

    # THEN the next call fetches it afresh and succeeds
    (answer,) = bus_tap.events()
    assert answer["detail"]["metadata"]["status"] == "submitted"


# -- the vendor's asynchronous jobs ----------------------------------------------------------

JOB_SECONDS = 0.2


def job_began(seconds_ago: float) -> None:
    """As if the vendor accepted the seed request's job ``seconds_ago``."""
    boto3.client("dynamodb").update_item(
        TableName="mediator-state",
        Key={"pk": {"S": REQUEST_KEY}},
        UpdateExpression="SET job_at = :t",
        ExpressionAttributeValues={":t": {"N": str(time.time() - seconds_ago)}},
    )


def requeue_delays(caplog: pytest.LogCaptureFixture) -> list[int]:
    return [r.delay for r in caplog.records if r.getMessage() == "request requeued"]  # type: ignore[attr-defined]


def test_an_accepted_job_holds_the_request_until_it_succeeds_then_answers_its_reference(
    handler: Any,
    queues: Queues,
    vendor: FakeVendor,
    bus_tap: BusTap,
    lambda_context: Context,
    caplog: pytest.LogCaptureFixture,
) -> None:
    vendor.faults = FaultProfile(async_operations=["voucher"], job_seconds=JOB_SECONDS)
    first = queues.deliver(request())

    assert failed_ids(handler(first, lambda_context)) == [first["Records"][0]["messageId"]]
    assert bus_tap.events(wait=0.1) == []
    assert requeue_delays(caplog) == [JOB_POLL]  # asked again after the poll interval

    time.sleep(JOB_SECONDS)
    result = handler(queues.redeliver(first), lambda_context)

    assert failed_ids(result) == []
    (answer,) = bus_tap.events()
    assert answer["detail"]["metadata"]["status"] == "submitted"
    (redemption,) = vendor.redemptions()
    assert answer["detail"]["data"]["vendor_references"] == [redemption.redemption_id]
    # One call that started the job, one status call: never a second redemption call.
    assert vendor.stats().by_endpoint == {
        "POST /v1/vouchers/{code}/redemptions": 1,
        "GET /v1/jobs/{job_id}": 1,
    }


def test_a_pending_job_is_polled_again_without_a_new_call(
    handler: Any, queues: Queues, vendor: FakeVendor, bus_tap: BusTap, lambda_context: Context
) -> None:
    vendor.faults = FaultProfile(async_operations=["voucher"], job_seconds=60)
    first = queues.deliver(request())
    handler(first, lambda_context)

    again = handler(queues.redeliver(first), lambda_context)

    assert len(failed_ids(again)) == 1
    assert bus_tap.events(wait=0.1) == []
    assert vendor.stats().by_endpoint == {
        "POST /v1/vouchers/{code}/redemptions": 1,
        "GET /v1/jobs/{job_id}": 1,
    }


def test_a_job_that_fails_is_answered_rejected_and_applied_nothing(
    handler: Any, queues: Queues, vendor: FakeVendor, bus_tap: BusTap, lambda_context: Context
) -> None:
    vendor.faults = FaultProfile(async_operations=["voucher"], job_seconds=0, job_failure_rate=1.0)
    first = queues.deliver(request())
    handler(first, lambda_context)

    handler(queues.redeliver(first), lambda_context)

    (answer,) = bus_tap.events()
    error = answer["detail"]["data"]["error"]
    assert error["name"] == "VendorRejected"
    assert "failed: job_failed" in error["reason"]
    assert vendor.redemptions() == []


def test_a_job_past_its_timeout_is_answered_outcome_unknown_and_parked_for_an_operator(
    handler: Any, queues: Queues, vendor: FakeVendor, bus_tap: BusTap, lambda_context: Context
) -> None:
    vendor.faults = FaultProfile(async_operations=["voucher"], job_seconds=0, job_stuck_rate=1.0)
    first = queues.deliver(request())
    handler(first, lambda_context)
    job_began(JOB_TIMEOUT + 1)

    handler(queues.redeliver(first), lambda_context)

    (answer,) = bus_tap.events()
    error = answer["detail"]["data"]["error"]
    assert error["name"] == "VendorOutcomeUnknown"
    assert "still running" in error["reason"]
    (parked,) = queues.parked_for_reconciliation()
    assert parked["MessageAttributes"]["idempotency_keys"][
        "StringValue"
    ] == REQUEST_KEY.removeprefix("request#")


def test_a_job_whose_status_the_vendor_cannot_give_is_never_reported_not_applied(
    handler: Any, queues: Queues, vendor: FakeVendor, bus_tap: BusTap, lambda_context: Context
) -> None:
    vendor.faults = FaultProfile(async_operations=["voucher"], job_seconds=0)
    first = queues.deliver(request())
    handler(first, lambda_context)
    # The job has applied the redemption; then the vendor goes down for its status calls.
    vendor.faults = FaultProfile(async_operations=["voucher"], error_rate=1.0)
    handler(queues.redeliver(first), lambda_context)  # trouble begins: put back
    assert bus_tap.events(wait=0.1) == []
    trouble_began(DEADLINE + 1)

    second = queues.redeliver(first)
    handler(second, lambda_context)
    assert bus_tap.events(wait=0.1) == []  # in doubt: asked again, never "not applied"
    trouble_began(DEADLINE + RECONCILE + 1)
    handler(queues.redeliver(second), lambda_context)

    (answer,) = bus_tap.events()
    assert answer["detail"]["data"]["error"]["name"] == "VendorOutcomeUnknown"
    assert len(vendor.redemptions()) == 1


def test_a_202_without_its_job_is_asked_again_and_the_replay_names_the_job(
    handler: Any, queues: Queues, vendor: FakeVendor, bus_tap: BusTap, lambda_context: Context
) -> None:
    vendor.faults = FaultProfile(
        async_operations=["voucher"], job_seconds=0, malformed_success_rate=1.0
    )
    first = queues.deliver(request())
    handler(first, lambda_context)  # 202 without a job id, then the replay: the real 202
    vendor.faults = FaultProfile(async_operations=["voucher"], job_seconds=0)

    handler(queues.redeliver(first), lambda_context)

    (answer,) = bus_tap.events()
    assert answer["detail"]["metadata"]["status"] == "submitted"
    assert len(vendor.redemptions()) == 1
    assert vendor.stats().idempotent_replays == 1

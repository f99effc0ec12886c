"""Handler tests run the real handler modules against moto.

Handlers read their configuration when their module is imported (a cold start), so each test
loads the module afresh with its environment (``load_handler``). Tables are created from the key
schema in the synthesised template, so the tests and the deployment cannot drift apart.
"""

from __future__ import annotations

import importlib
import json
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import boto3
import pytest
from aws_cdk.assertions import Template
from moto import mock_aws

from local_cloud.runtime import moto_patches
from loyalty import contract


@pytest.fixture
def aws() -> Iterator[None]:
    moto_patches.apply()
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        yield


@dataclass
class BusTap:
    """Everything put on the default bus by the project's services, read back from an SQS queue."""

    queue_url: str

    def events(self, *, wait: float = 2.0, expect: int = 1) -> list[dict[str, Any]]:
        sqs = boto3.client("sqs")
        found: list[dict[str, Any]] = []
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and len(found) < expect:
            messages = sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10).get(
                "Messages", []
            )
            for message in messages:
                found.append(json.loads(message["Body"]))
                sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
            if not messages:
                time.sleep(0.02)
        return found


@pytest.fixture
def bus_tap(aws: None) -> BusTap:
    sqs = boto3.client("sqs")
    url = sqs.create_queue(QueueName="bus-tap")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    events = boto3.client("events")
    sources = [s.value for s in contract.Source] + ["test"]
    events.put_rule(Name="tap", EventPattern=json.dumps({"source": sources}))
    events.put_targets(Rule="tap", Targets=[{"Id": "tap", "Arn": arn}])
    return BusTap(url)


def create_table(template: Template, logical_prefix: str, name: str) -> str:
    """Create, in moto, the table of ``template`` whose logical id starts with ``logical_prefix``,
    with its synthesised key schema and secondary indexes."""
    (props,) = [
        resource["Properties"]
        for logical_id, resource in template.find_resources("AWS::DynamoDB::Table").items()
        if logical_id.startswith(logical_prefix)
    ]
    indexes = {k: props[k] for k in ("GlobalSecondaryIndexes",) if k in props}
    boto3.client("dynamodb").create_table(
        TableName=name,
        KeySchema=props["KeySchema"],
        AttributeDefinitions=props["AttributeDefinitions"],
        BillingMode=props["BillingMode"],
        **indexes,
    )
    return name


@pytest.fixture
def state_table(aws: None) -> str:
    """The mediator state table (circuit, quota and request memory), as the stack makes it."""
    boto3.client("dynamodb").create_table(
        TableName="mediator-state",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return "mediator-state"


@pytest.fixture
def orders_table(aws: None, order_template: Template) -> str:
    return create_table(order_template, "Orders", "orders")


LoadHandler = Callable[[str, dict[str, str]], ModuleType]


DOCUMENTS_BUCKET = "order-documents"


def cold_import(module: str) -> ModuleType:
    """Import a handler module as a cold start does: its package afresh (its modules read
    settings and make clients at import), as in a new execution environment."""
    package = module.split(".", 1)[0]
    for name in [n for n in sys.modules if n == package or n.startswith(package + ".")]:
        del sys.modules[name]
    return importlib.import_module(module)


@pytest.fixture(scope="session")
def deployed_settings(
    order_template: Template, vendor_template: Template, api_template: Template
) -> dict[str, dict[str, str]]:
    """Each handler module's settings as synthesised: the contract's variables that the stack
    sets to a value (not to a resource's name or ARN, which each test creates and names)."""
    names = {variable.value for variable in contract.Env}
    found: dict[str, dict[str, str]] = {}
    for template in (order_template, vendor_template, api_template):
        for resource in template.find_resources("AWS::Lambda::Function").values():
            props = resource["Properties"]
            variables = props.get("Environment", {}).get("Variables", {})
            found[props["Handler"].rsplit(".", 1)[0]] = {
                name: value
                for name, value in variables.items()
                if name in names and isinstance(value, str)
            }
    return found


@pytest.fixture
def load_handler(
    aws: None, monkeypatch: pytest.MonkeyPatch, deployed_settings: dict[str, dict[str, str]]
) -> LoadHandler:
    """Load a handler module afresh with its settings as deployed, the claim-check bucket every
    order handler is given and ``env`` (the test's resources, and the settings it changes)."""
    boto3.client("s3").create_bucket(Bucket=DOCUMENTS_BUCKET)

    def load(module: str, env: dict[str, str]) -> ModuleType:
        deployed = deployed_settings[module]
        for key, value in {**deployed, "ORDERS_BUCKET_NAME": DOCUMENTS_BUCKET, **env}.items():
            monkeypatch.setenv(key, value)
        return cold_import(module)

    return load


@dataclass(frozen=True)
class BufferQueues:
    """An SQS buffer and its dead-letter queue in moto (``loyalty.adapters.event_buffer``)."""

    url: str
    dead_letter_url: str

    @property
    def env(self) -> dict[str, str]:
        return {
            contract.Env.BUFFER_QUEUE_URL: self.url,
            contract.Env.BUFFER_DEAD_LETTER_QUEUE_URL: self.dead_letter_url,
        }

    def send(self, *events: dict[str, Any] | str) -> dict[str, Any]:
        """Put ``events`` in the buffer and receive them as an SQS event source mapping would:
        the event a buffered handler is invoked with."""
        sqs = boto3.client("sqs")
        for event in events:
            body = event if isinstance(event, str) else json.dumps(event)
            sqs.send_message(QueueUrl=self.url, MessageBody=body)
        received = sqs.receive_message(
            QueueUrl=self.url, MaxNumberOfMessages=10, AttributeNames=["All"]
        )["Messages"]
        return {
            "Records": [
                {
                    "messageId": m["MessageId"],
                    "receiptHandle": m["ReceiptHandle"],
                    "body": m["Body"],
                    "attributes": m["Attributes"],
                    "messageAttributes": {},
                    "eventSource": "aws:sqs",
                    "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:buffer",
                }
                for m in received
            ]
        }

    def dead_letters(self) -> list[tuple[Any, str]]:
        """(event, reason) of each message in the dead-letter queue (the body as is when it is
        not JSON)."""
        messages = (
            boto3.client("sqs")
            .receive_message(
                QueueUrl=self.dead_letter_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
            )
            .get("Messages", [])
        )
        return [
            (_json_or_text(m["Body"]), m["MessageAttributes"]["error"]["StringValue"])
            for m in messages
        ]

    def visible(self) -> int:
        attributes = boto3.client("sqs").get_queue_attributes(
            QueueUrl=self.url, AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"])


def _json_or_text(body: str) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return body


@pytest.fixture
def buffer_queues(aws: None) -> BufferQueues:
    sqs = boto3.client("sqs")
    return BufferQueues(
        url=sqs.create_queue(QueueName="buffer")["QueueUrl"],
        dead_letter_url=sqs.create_queue(QueueName="buffer-dlq")["QueueUrl"],
    )


@dataclass
class WaitingTask:
    execution_arn: str
    token: str

    def describe(self, wait: float = 3.0) -> dict[str, Any]:
        sfn = boto3.client("stepfunctions")
        deadline = time.monotonic() + wait
        while True:
            execution = sfn.describe_execution(executionArn=self.execution_arn)
            if execution["status"] != "RUNNING" or time.monotonic() > deadline:
                return execution  # type: ignore[no-any-return]
            time.sleep(0.02)


def start_waiting_task(bus_tap: BusTap, name: str, heartbeat: int = 60) -> WaitingTask:
    """Start an execution whose one task waits for its token (like a vendor step), and return
    it with the token it put on the bus."""
    definition = {
        "StartAt": "Wait",
        "States": {
            "Wait": {
                "Type": "Task",
                "Resource": "arn:aws:states:::events:putEvents.waitForTaskToken",
                "HeartbeatSeconds": heartbeat,
                "TimeoutSeconds": 120,
                "Parameters": {
                    "Entries": [
                        {
                            "Source": "test",
                            "DetailType": "waiting",
                            "Detail": {"token.$": "$$.Task.Token"},
                        }
                    ]
                },
                "End": True,
            }
        },
    }
    sfn = boto3.client("stepfunctions")
    machine = sfn.create_state_machine(
        name=name,
        definition=json.dumps(definition),
        roleArn="arn:aws:iam::123456789012:role/x",
    )["stateMachineArn"]
    execution = sfn.start_execution(stateMachineArn=machine, name=f"{name}-1", input="{}")[
        "executionArn"
    ]
    (event,) = bus_tap.events()
    return WaitingTask(execution, event["detail"]["token"])


@pytest.fixture
def waiting_task(aws: None, bus_tap: BusTap) -> WaitingTask:
    return start_waiting_task(bus_tap, "waiting")


class Context:
    function_name = "test"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:test"
    aws_request_id = "request-1"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 30_000


@pytest.fixture
def lambda_context() -> Context:
    return Context()

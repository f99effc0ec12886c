"""The SQS event source mapping keeps a crashed batch hidden for the queue's visibility timeout,
multiplied by the local cloud's ``time_scale`` like its other emulated waits: a crash-looping
consumer is neither redelivered at once nor made to wait AWS's full timeout in a scaled test."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any, cast

import boto3
import pytest
from moto import mock_aws

from local_cloud.runtime.lambda_runtime import InvocationStats, LocalFunction
from local_cloud.runtime.sqs_pollers import EventSourceMapping, SqsPollers

REGION = "us-east-1"
VISIBILITY_SECONDS = 20


class CrashesOnce:
    """A consumer whose first invocation raises; it records when each invocation began."""

    name = "consumer"
    credentials: dict[str, str] = {}  # none: the pollers use their own client

    def __init__(self) -> None:
        self.started: list[float] = []
        self.second = threading.Event()
        self.stats = InvocationStats()

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        self.started.append(time.monotonic())
        if len(self.started) == 1:
            raise RuntimeError("crashed")
        self.second.set()
        return {}


@pytest.fixture
def queue_arn() -> Iterator[str]:
    with mock_aws():
        sqs = boto3.client("sqs", region_name=REGION)
        url = sqs.create_queue(
            QueueName="requests", Attributes={"VisibilityTimeout": str(VISIBILITY_SECONDS)}
        )["QueueUrl"]
        sqs.send_message(QueueUrl=url, MessageBody="{}")
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
        yield attributes["Attributes"]["QueueArn"]


def run_pollers(queue_arn: str, consumer: CrashesOnce, *, time_scale: float, wait: float) -> None:
    pollers = SqsPollers(
        mappings=[
            EventSourceMapping(
                function=cast(LocalFunction, consumer),
                queue_arn=queue_arn,
                batch_size=10,
                max_concurrency=2,
                report_batch_item_failures=True,
            )
        ],
        client=lambda service: boto3.client(service, region_name=REGION),
        region=REGION,
        idle_seconds=0.05,
        time_scale=time_scale,
    )
    pollers.start()
    try:
        consumer.second.wait(wait)
    finally:
        pollers.stop()


def test_a_crashed_batch_comes_back_after_the_scaled_visibility_timeout(queue_arn: str) -> None:
    consumer = CrashesOnce()
    run_pollers(queue_arn, consumer, time_scale=1 / VISIBILITY_SECONDS, wait=5)

    first, second = consumer.started
    assert 0.95 <= second - first < 1.5  # 20 s at 1/20, seen within the 50 ms idle wait


def test_at_aws_timing_a_crashed_batch_stays_hidden(queue_arn: str) -> None:
    consumer = CrashesOnce()
    run_pollers(queue_arn, consumer, time_scale=1.0, wait=1.5)

    assert len(consumer.started) == 1  # still hidden: 20 s on AWS

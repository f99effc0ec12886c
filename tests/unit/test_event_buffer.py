"""The SQS buffer in front of the order starter and the token handler: how long a failed event
is hidden before it is received again."""

from __future__ import annotations

from typing import Any

import pytest
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from loyalty.adapters.event_buffer import EventBuffer
from loyalty.backoff import Backoff


class RecordingSqs:
    def __init__(self) -> None:
        self.hidden: list[int] = []

    def change_message_visibility(self, **call: Any) -> None:
        assert call["QueueUrl"] == "queue" and call["ReceiptHandle"] == "handle"
        self.hidden.append(call["VisibilityTimeout"])


def record(receives: int) -> SQSRecord:
    return SQSRecord(
        {
            "messageId": "m",
            "receiptHandle": "handle",
            "body": "{}",
            "attributes": {"ApproximateReceiveCount": str(receives)},
        }
    )


def buffer(sqs: RecordingSqs, *, rand: float, base: float = 1, cap: float = 60) -> EventBuffer:
    return EventBuffer(
        sqs=sqs,
        queue_url="queue",
        dead_letter_queue_url="dlq",
        backoff=Backoff(base_seconds=base, cap_seconds=cap),
        logger=Logger(service="tests"),
        rand=lambda: rand,
    )


@pytest.mark.parametrize(
    ("receives", "ceiling"), [(1, 1), (2, 2), (3, 4), (6, 32), (7, 60), (100, 60)]
)
def test_a_failed_event_is_hidden_between_half_and_all_of_its_backoff_ceiling(
    receives: int, ceiling: int
) -> None:
    sqs = RecordingSqs()
    for rand in (0.0, 1.0):
        buffer(sqs, rand=rand).retry_later(record(receives), RuntimeError("throttled"))

    assert sqs.hidden == [max(1, round(ceiling / 2)), ceiling]


def test_a_failed_event_is_hidden_for_at_least_a_second() -> None:
    sqs = RecordingSqs()

    buffer(sqs, rand=0.0, base=0.2).retry_later(record(1), RuntimeError("throttled"))

    assert sqs.hidden == [1]

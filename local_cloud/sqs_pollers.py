"""SQS event source mappings, which moto cannot run (its Lambda needs Docker).

Like Lambda's pollers: up to ``MaximumConcurrency`` concurrent invocations per mapping, each with
a batch of at most ``BatchSize`` records in Lambda's SQS event format. After an invocation, the
records it did not report in ``batchItemFailures`` are deleted; the reported ones (and a whole
batch whose invocation raised) stay in the queue and come back when their visibility timeout
ends, exactly as on AWS (moto applies the queue's redrive policy on receive).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from local_cloud.lambda_runtime import LocalFunction

LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class EventSourceMapping:
    function: LocalFunction
    queue_arn: str
    batch_size: int
    max_concurrency: int
    report_batch_item_failures: bool


def sqs_record(message: dict[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": message.get("Attributes", {}),
        "messageAttributes": {
            name: {
                "stringValue": value.get("StringValue"),
                "binaryValue": value.get("BinaryValue"),
                "stringListValues": [],
                "binaryListValues": [],
                "dataType": value["DataType"],
            }
            for name, value in message.get("MessageAttributes", {}).items()
        },
        "md5OfBody": message.get("MD5OfBody"),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }


class SqsPollers:
    def __init__(
        self,
        *,
        mappings: list[EventSourceMapping],
        client: Callable[[str], Any],
        region: str,
        idle_seconds: float = 0.02,
    ) -> None:
        self._mappings = mappings
        self._client = client
        self._region = region
        self._idle = idle_seconds
        self._stop = threading.Event()
        self._busy = 0
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self.invocations = 0

    def start(self) -> None:
        for mapping in self._mappings:
            for slot in range(mapping.max_concurrency):
                thread = threading.Thread(
                    target=self._poll,
                    args=(mapping,),
                    name=f"sqs-poller-{mapping.function.name}-{slot}",
                    daemon=True,
                )
                thread.start()
                self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)

    @property
    def busy(self) -> int:
        return self._busy

    def _poll(self, mapping: EventSourceMapping) -> None:
        sqs = self._client("sqs")
        url = sqs.get_queue_url(QueueName=mapping.queue_arn.rsplit(":", 1)[-1])["QueueUrl"]
        while not self._stop.is_set():
            try:
                messages = sqs.receive_message(
                    QueueUrl=url,
                    MaxNumberOfMessages=mapping.batch_size,
                    AttributeNames=["All"],
                    MessageAttributeNames=["All"],
                    WaitTimeSeconds=0,
                ).get("Messages", [])
            except Exception:  # moto stopped underneath us
                if not self._stop.is_set():
                    LOG.exception("polling %s failed", mapping.queue_arn)
                return
            if not messages:
                self._stop.wait(self._idle)
                continue
            with self._lock:
                self._busy += 1
                self.invocations += 1
            try:
                self._invoke(sqs, url, mapping, messages)
            finally:
                with self._lock:
                    self._busy -= 1

    def _invoke(
        self, sqs: Any, url: str, mapping: EventSourceMapping, messages: list[dict[str, Any]]
    ) -> None:
        event = {"Records": [sqs_record(m, mapping.queue_arn, self._region) for m in messages]}
        try:
            response = mapping.function.invoke(event) or {}
        except Exception:
            return
        failed: set[str] = set()
        if mapping.report_batch_item_failures:
            failed = {f["itemIdentifier"] for f in response.get("batchItemFailures", [])}
        done = [m for m in messages if m["MessageId"] not in failed]
        for start in range(0, len(done), 10):
            sqs.delete_message_batch(
                QueueUrl=url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                    for i, m in enumerate(done[start : start + 10])
                ],
            )
        time.sleep(0)  # let other pollers in

"""SQS event source mappings, which moto cannot run (its Lambda needs Docker).

Like Lambda's pollers: up to ``MaximumConcurrency`` concurrent invocations per mapping, each with
a batch of at most ``BatchSize`` records in Lambda's SQS event format. After an invocation, the
records it did not report in ``batchItemFailures`` are deleted; the reported ones (and a whole
batch whose invocation raised) stay in the queue and come back when their visibility timeout
ends, exactly as on AWS (moto applies the queue's redrive policy on receive). The batch of an
invocation that raised stays hidden for the queue's visibility timeout multiplied by
``time_scale``, like the local cloud's other emulated waits (1.0: AWS's timing).

An idle mapping waits as Lambda's long polling does: a message is received as soon as it is
sent, or as soon as a hidden or delayed one becomes visible, and an empty queue costs nothing.
One idle poller per mapping waits and receives; the others wait their turn (no herd of empty
receives). It waits on moto's own queue: on its condition, which moto notifies when a message is
sent, until the moment the next hidden or delayed message becomes visible, or ``idle_seconds``
at most (a visibility changed by someone else is seen then); it calls ``ReceiveMessage`` only
when moto shows a visible message. (moto's ``WaitTimeSeconds`` re-checks only once a second, so
a requeued message would come back up to a second late.) Before, every free poller slot called
``ReceiveMessage`` every 20 ms: 250 empty receives a second for the mediator alone, a fifth of
the local cloud's CPU per order in ``bench.throughput``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.config import Config
from moto.core.utils import unix_time_millis
from moto.sqs.models import sqs_backends

from local_cloud.runtime.lambda_runtime import LocalFunction

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
        idle_seconds: float = 0.5,
        time_scale: float = 1.0,
    ) -> None:
        self._mappings = mappings
        self._time_scale = time_scale
        self._client = client
        self._region = region
        self._idle = idle_seconds
        self._stop = threading.Event()
        self._busy = 0
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._receivers = {m.queue_arn: threading.Lock() for m in mappings}
        self._connect_lock = threading.Lock()
        self._connections: dict[tuple[str, str], tuple[str, Any] | None] = {}
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
        for mapping in self._mappings:
            queue = _moto_queue(mapping.queue_arn)
            if queue is not None:
                with queue._messages_lock:
                    queue._messages_lock.notify_all()
        for thread in self._threads:
            thread.join(timeout=30)

    @property
    def busy(self) -> int:
        return self._busy

    def _sqs_as(self, function: LocalFunction) -> Any:
        """Lambda polls a queue with the function's execution role (its grants on the queue are
        what ReceiveMessage and DeleteMessage need)."""
        if not function.credentials:
            return self._client("sqs")
        return function.role_session(self._region).client(
            "sqs", config=Config(retries={"max_attempts": 1})
        )

    def _connect(self, mapping: EventSourceMapping) -> tuple[str, Any] | None:
        """The queue's URL and a client with the function's role, made once per mapping and
        shared by its pollers (a boto3 client is thread-safe; one per poller made a deploy spend
        seconds creating hundreds). None when the role may not read the queue."""
        key = (mapping.queue_arn, mapping.function.name)
        with self._connect_lock:
            if key not in self._connections:
                name = mapping.queue_arn.rsplit(":", 1)[-1]
                url = self._client("sqs").get_queue_url(QueueName=name)["QueueUrl"]
                sqs = self._sqs_as(mapping.function)
                connection: tuple[str, Any] | None = (url, sqs)
                try:  # what Lambda's poller asks first, with the role: a missing grant stops it
                    sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["VisibilityTimeout"])
                except Exception:
                    if not self._stop.is_set():
                        LOG.exception("%s cannot read %s: not polled", mapping.function.name, url)
                    connection = None
                self._connections[key] = connection
            return self._connections[key]

    def _poll(self, mapping: EventSourceMapping) -> None:
        connection = self._connect(mapping)
        if connection is None:
            return
        url, sqs = connection
        receiver = self._receivers[mapping.queue_arn]
        while not self._stop.is_set():
            messages: list[dict[str, Any]] = []
            try:
                with receiver:  # one idle poller at a time; the others are invoking or waiting
                    unreceivable = False
                    while not self._stop.is_set():
                        visible = self._wait_for_messages(mapping)
                        if visible is None:
                            continue
                        if visible == "already" and unreceivable:
                            self._stop.wait(0.02)  # visible, yet the last receive got none: poll
                        received_at = unix_time_millis()
                        messages = self._receive(sqs, url, mapping)
                        if messages:
                            break
                        unreceivable = visible == "already"
            except Exception:  # moto stopped underneath us
                if not self._stop.is_set():
                    LOG.exception("polling %s failed", mapping.queue_arn)
                return
            if not messages:
                continue
            with self._lock:
                self._busy += 1
                self.invocations += 1
            try:
                self._invoke(sqs, url, mapping, messages, received_at)
            finally:
                with self._lock:
                    self._busy -= 1

    @staticmethod
    def _receive(sqs: Any, url: str, mapping: EventSourceMapping) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=mapping.batch_size,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
            WaitTimeSeconds=0,
        ).get("Messages", [])
        return messages

    def _wait_for_messages(self, mapping: EventSourceMapping) -> str | None:
        """Wait until a message may be received (see the module docstring), at most
        ``idle_seconds``. Returns ``"already"`` if one was visible at once, ``"new"`` if one
        became visible, None if none did (no receive needed)."""
        queue = _moto_queue(mapping.queue_arn)
        if queue is None:  # not a queue of this moto: poll
            self._stop.wait(self._idle)
            return "new"
        with queue._messages_lock:
            if queue.messages:
                return "already"
            now = unix_time_millis()
            due = [
                at
                for message in queue._messages
                for at in (message.visible_at, message.delayed_until)
                if at >= now
            ]
            # moto compares whole milliseconds strictly: a message is visible 1 ms after its time
            timeout = min([self._idle, *((at - now + 2) / 1000 for at in due)])
            if queue._messages_lock.wait_for(
                lambda: self._stop.is_set() or bool(queue.messages), timeout=timeout
            ):
                return None if self._stop.is_set() else "new"
        return None

    def _invoke(
        self,
        sqs: Any,
        url: str,
        mapping: EventSourceMapping,
        messages: list[dict[str, Any]],
        received_at: float,
    ) -> None:
        event = {"Records": [sqs_record(m, mapping.queue_arn, self._region) for m in messages]}
        try:
            response = mapping.function.invoke(event) or {}
        except Exception:
            self._scale_visibility(mapping, messages, received_at)
            return
        failed: set[str] = set()
        if mapping.report_batch_item_failures:
            failed = {f["itemIdentifier"] for f in response.get("batchItemFailures", [])}
            mapping.function.stats.item_failures += len(failed)
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

    def _scale_visibility(
        self, mapping: EventSourceMapping, messages: list[dict[str, Any]], received_at: float
    ) -> None:
        """A crashed batch stays hidden for its visibility timeout times ``time_scale``.

        Set on moto's messages directly: the SQS API takes whole seconds, a scaled timeout is a
        fraction of one (48 s at 1/30 is 1.6 s)."""
        queue = _moto_queue(mapping.queue_arn)
        if self._time_scale == 1.0 or queue is None:
            return
        handles = {m["ReceiptHandle"] for m in messages}
        queue_timeout_ms = int(queue.visibility_timeout) * 1000
        with queue._messages_lock:
            for message in queue._messages:
                if any(message.had_receipt_handle(handle) for handle in handles):
                    hidden_for = message.visible_at - received_at
                    if not 0 <= hidden_for - queue_timeout_ms < 1000:
                        continue  # the function changed it before it crashed: kept, as on AWS
                    message.visible_at = int(received_at + hidden_for * self._time_scale)
        # An idle poller already waiting sees the new time within ``idle_seconds``.


def _moto_queue(queue_arn: str) -> Any:
    """moto's model of the queue (``arn:aws:sqs:<region>:<account>:<name>``), if it has one."""
    _, _, _, region, account, name = queue_arn.split(":", 5)
    try:
        return sqs_backends[account][region].queues.get(name)
    except KeyError:
        return None

"""An SQS queue of EventBridge events in front of a function that calls a throttled AWS API.

Why a queue: invoked asynchronously by its rule, a function has Lambda's retries (two, a
minute and two minutes apart) on top of the SDK's, about three minutes in all; a throttle that
outlasts them dead-lettered the event (an order never started, a vendor answer never resumed its
step). Behind a queue, each event is retried until the queue's ``maxReceiveCount``, backing off
between receives, and a throttle of an hour costs latency, not work.

Each message's body is one EventBridge event. ``handle_batch`` runs ``handle`` on each event:

- it returns: the message leaves the queue;
- it raises one of ``refused`` (the event can never be processed: malformed, not the contract):
  the message goes to the dead-letter queue at once, with the reason in its ``error`` attribute,
  and leaves the queue (retrying it would only delay the operator who must look at it);
- it raises anything else (a throttle, a timeout, an outage): the message is hidden for a
  backed-off while (``ChangeMessageVisibility``) and reported as a batch item failure, so only it
  comes back; after ``maxReceiveCount`` receives SQS moves it to the dead-letter queue itself.

Messages come back from the dead-letter queue with SQS's redrive (``StartMessageMoveTask``): the
body is the event as received, so a redriven message is processed like any other.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from loyalty.backoff import Backoff
from loyalty.contract import DEAD_LETTER_REASON_ATTRIBUTE, ORDER_REFERENCE_FIELD
from loyalty.settings import BufferSettings

MIN_HIDE_SECONDS = 1
"""Shortest time a failed message is hidden (SQS takes whole seconds; 0 would retry at once)."""


class UnreadableMessageError(ValueError):
    """The message body is not an EventBridge event (JSON object with a ``detail``)."""


@dataclass(frozen=True)
class EventBuffer:
    sqs: Any
    queue_url: str
    dead_letter_queue_url: str
    backoff: Backoff
    logger: Logger
    rand: Callable[[], float] = random.random
    """The jitter's source (a test's fixed value)."""

    @classmethod
    def of(cls, settings: BufferSettings, *, sqs: Any, logger: Logger) -> EventBuffer:
        return cls(
            sqs=sqs,
            queue_url=settings.buffer_queue_url,
            dead_letter_queue_url=settings.buffer_dead_letter_queue_url,
            backoff=Backoff(
                base_seconds=settings.buffer_retry_base_seconds,
                cap_seconds=settings.buffer_retry_max_seconds,
            ),
            logger=logger,
        )

    def handle_batch(
        self,
        event: dict[str, Any],
        context: LambdaContext,
        *,
        handle: Callable[[dict[str, Any]], object],
        refused: tuple[type[Exception], ...],
    ) -> dict[str, Any]:
        """The SQS event's records through ``handle``; the partial-batch response."""

        never_processable: tuple[type[Exception], ...] = (UnreadableMessageError, *refused)

        def record_handler(record: SQSRecord) -> None:
            try:
                handle(_event_of(record))
            except never_processable as err:
                self.dead_letter(record, f"{type(err).__name__}: {err}")
            except Exception as err:
                self.retry_later(record, err)
                raise
            finally:
                # ``handle`` names the record's order on the log; the next record is another's.
                self.logger.remove_keys([ORDER_REFERENCE_FIELD])

        # A batch that fails whole (an outage) is normal here: report, do not fail the invocation.
        processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
        return dict(
            process_partial_response(
                event=event, record_handler=record_handler, processor=processor, context=context
            )
        )

    def dead_letter(self, record: SQSRecord, reason: str) -> None:
        self.logger.error("event refused: sent to the dead-letter queue", extra={"reason": reason})
        self.sqs.send_message(
            QueueUrl=self.dead_letter_queue_url,
            MessageBody=record.body,
            MessageAttributes={
                DEAD_LETTER_REASON_ATTRIBUTE: {"DataType": "String", "StringValue": reason[:1000]}
            },
        )

    def retry_later(self, record: SQSRecord, err: Exception) -> None:
        """Hide the message for the backoff of its receive count (equal jitter: at least half
        the ceiling, so a throttled API is not asked again at once)."""
        receives = int(record.attributes.approximate_receive_count)
        ceiling = self.backoff.ceiling(receives - 1)
        seconds = max(
            MIN_HIDE_SECONDS, round(ceiling / 2 + self.backoff.delay(receives - 1, self.rand) / 2)
        )
        self.logger.warning(
            "event failed: retried later",
            extra={"error": f"{type(err).__name__}: {err}", "receives": receives, "hide": seconds},
        )
        self.sqs.change_message_visibility(
            QueueUrl=self.queue_url, ReceiptHandle=record.receipt_handle, VisibilityTimeout=seconds
        )


def _event_of(record: SQSRecord) -> dict[str, Any]:
    try:
        event = json.loads(record.body)
    except ValueError as err:
        raise UnreadableMessageError(f"the message body is not JSON ({err})") from None
    if not isinstance(event, dict) or not isinstance(event.get("detail"), dict):
        raise UnreadableMessageError("the message body is not an EventBridge event")
    return event

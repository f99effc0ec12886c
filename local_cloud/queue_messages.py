"""What waits in the app's queues: buffered work, requests parked for reconciliation and
dead letters, read without taking them out."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from local_cloud.resources import CloudResources
from loyalty.contract import DEAD_LETTER_REASON_ATTRIBUTE


def dead_letter_reason(message: dict[str, Any]) -> str | None:
    """Why an event buffer dead-lettered this SQS message (received with its attributes), or
    None for a message that ran out of receives rather than being refused."""
    attribute = message.get("MessageAttributes", {}).get(DEAD_LETTER_REASON_ATTRIBUTE, {})
    return attribute.get("StringValue")


class QueueMessages(CloudResources):
    """Peek into the queues; never consumes a message."""

    def parked_for_reconciliation(self) -> list[dict[str, Any]]:
        """Vendor requests in the reconciliation queue (up to ten, peeked, left in): their
        outcome was unknown when the mediator answered ``VendorOutcomeUnknown``."""
        return list(self._peek(self.output("ReconciliationQueueUrl")))

    def reconciliation_backlog(self) -> int:
        """How many requests wait in the reconciliation queue for an operator."""
        attributes = self._sqs.get_queue_attributes(
            QueueUrl=self.output("ReconciliationQueueUrl"),
            AttributeNames=["ApproximateNumberOfMessages"],
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"])

    def buffered_messages(self) -> dict[str, int]:
        """Messages waiting or hidden in every queue that is not a dead-letter queue, by logical
        id."""
        return {queue: sum(depth) for queue, depth in self.queue_depths().items()}

    def queue_depths(self) -> dict[str, tuple[int, int]]:
        """Messages (visible, hidden) in every queue that is not a dead-letter queue: a message
        left visible waits for a poller, a hidden one is being handled or backs off after a
        failed attempt (what tells the two stalls apart when ``wait_idle`` gives up)."""
        depths = {}
        for logical_id, url in self.queues(dead_letter=False):
            attributes = self._sqs.get_queue_attributes(
                QueueUrl=url,
                AttributeNames=[
                    "ApproximateNumberOfMessages",
                    "ApproximateNumberOfMessagesNotVisible",
                ],
            )["Attributes"]
            depths[logical_id] = (
                int(attributes["ApproximateNumberOfMessages"]),
                int(attributes["ApproximateNumberOfMessagesNotVisible"]),
            )
        return depths

    def dead_letters(self) -> dict[str, list[dict[str, Any]]]:
        """Every message in every dead-letter queue, by the queue's logical id (peeked, left in)."""
        return {
            queue: [body for body, _ in messages]
            for queue, messages in self.dead_letter_reasons().items()
        }

    def dead_letter_reasons(self) -> dict[str, list[tuple[dict[str, Any], str | None]]]:
        """As ``dead_letters``, each body with the reason an event buffer gave for it (see
        ``dead_letter_reason``)."""
        found: dict[str, list[tuple[dict[str, Any], str | None]]] = {}
        for logical_id, url in self.queues(dead_letter=True):
            messages = [(json.loads(m["Body"]), dead_letter_reason(m)) for m in self._receive(url)]
            if messages:
                found[logical_id] = messages
        return found

    def _peek(self, url: str) -> Iterator[dict[str, Any]]:
        for message in self._receive(url):
            yield json.loads(message["Body"])

    def _receive(self, url: str) -> list[dict[str, Any]]:
        """Up to ten messages of a queue, left visible to the next reader."""
        response = self._sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=10,
            VisibilityTimeout=0,
            WaitTimeSeconds=0,
            MessageAttributeNames=["All"],
        )
        return list(response.get("Messages", []))

"""The app's events in the local cloud: putting them on the bus, tapping them as they are
delivered, and reading them back from the event log and the replay archive."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from local_cloud.resources import ACCOUNT, REGION, CloudResources


@dataclass(frozen=True)
class TimelineEntry:
    timestamp_ms: int
    source: str
    detail_type: str
    what: str
    """The metadata's type and status (``voucher submitted``, ``order.validate finished``)."""

    @classmethod
    def of(cls, timestamp_ms: int, event: dict[str, Any]) -> TimelineEntry:
        metadata = event.get("detail", {}).get("metadata", {})
        what = " ".join(str(metadata[k]) for k in ("type", "status") if metadata.get(k))
        detail = event.get("detail", {})
        if detail.get("decision"):  # a person's decision: what, and who
            what += f": {detail['decision']} by {detail.get('decided_by')}"
        error = detail.get("error")
        if isinstance(error, str):
            what += f" ({error})"
        elif isinstance(error, dict):
            what += f" ({error.get('name')})"
        # moto stamps log records with a float; CloudWatch Logs keeps whole milliseconds.
        return cls(int(timestamp_ms), event.get("source", ""), event.get("detail-type", ""), what)


class Tap:
    """Events seen by a tap, oldest first."""

    def __init__(self, sqs: Any, url: str) -> None:
        self._sqs = sqs
        self._url = url
        self.seen: list[dict[str, Any]] = []

    def events(self) -> list[dict[str, Any]]:
        """Everything seen so far (reads what arrived since the last call)."""
        while True:
            messages = self._sqs.receive_message(QueueUrl=self._url, MaxNumberOfMessages=10).get(
                "Messages", []
            )
            if not messages:
                return list(self.seen)
            for message in messages:
                self.seen.append(json.loads(message["Body"]))
                self._sqs.delete_message(QueueUrl=self._url, ReceiptHandle=message["ReceiptHandle"])

    def wait_for(
        self, matches: Callable[[dict[str, Any]], bool], timeout: float = 10
    ) -> list[dict[str, Any]]:
        """The events that match, once at least one has arrived (or the timeout passed): the
        router delivers to taps on its own threads, so an event can land just after the state
        change a test waited for."""
        deadline = time.monotonic() + timeout
        while True:
            found = [event for event in self.events() if matches(event)]
            if found or time.monotonic() > deadline:
                return found
            time.sleep(0.02)


class CloudEvents(CloudResources):
    """Put, tap and read back the app's events."""

    def put_events(self, *entries: dict[str, Any]) -> None:
        response = self._events.put_events(
            Entries=[
                {
                    "EventBusName": "default",
                    "Source": e["source"],
                    "DetailType": e["detail_type"],
                    "Detail": json.dumps(e["detail"]),
                }
                for e in entries
            ]
        )
        if response.get("FailedEntryCount"):
            raise RuntimeError(f"put_events failed: {response['Entries']}")

    def timeline(self, order_reference: str) -> list[TimelineEntry]:
        """Every event of one order, from the event log (the same log group and rule as on AWS:
        the LoyaltyObservability stack's), in the order the log received them. As on AWS, that
        is delivery order: a step's answer can land a few milliseconds before its request."""
        return self.timelines().get(order_reference, [])

    def timelines(self) -> dict[str, list[TimelineEntry]]:
        """Every order's timeline, from one read of the event log."""
        return {
            reference: [TimelineEntry.of(timestamp_ms, event) for timestamp_ms, event in events]
            for reference, events in self.events_by_order().items()
        }

    def events_by_order(self) -> dict[str, list[tuple[int, dict[str, Any]]]]:
        """Every event of the event log that names an order (``order_reference``, or
        ``data.loyalty_order_reference`` on vendor events), by order, oldest first, with the
        time the log received it."""
        from loyalty.contract import parse_event_summary

        found: dict[str, list[tuple[int, dict[str, Any]]]] = {}
        for timestamp_ms, message in self.event_log():
            # An event that carried a task token is logged as a summary line, without it.
            event = json.loads(message) if message.startswith("{") else parse_event_summary(message)
            if event is None:
                continue
            detail = event.get("detail", {})
            reference = detail.get("order_reference") or detail.get("data", {}).get(
                "loyalty_order_reference"
            )
            if reference:
                found.setdefault(reference, []).append((timestamp_ms, event))
        return {
            reference: sorted(events, key=lambda entry: entry[0])
            for reference, events in found.items()
        }

    def event_log(self, start_ms: int | None = None) -> list[tuple[int, str]]:
        """Every record of the event log (``timestamp``, raw ``message``: the event as JSON, or a
        one-line summary of an event that carried a task token), from ``start_ms`` on, all
        pages."""
        logs = self.client("logs")
        arguments: dict[str, Any] = {"logGroupName": self.output("EventLogGroupName")}
        if start_ms is not None:
            arguments["startTime"] = start_ms
        records: list[tuple[int, str]] = []
        while True:
            page = logs.filter_log_events(**arguments)
            records += [(record["timestamp"], record["message"]) for record in page["events"]]
            if not page.get("nextToken"):
                return records
            arguments["nextToken"] = page["nextToken"]

    def archived_events(self) -> list[dict[str, Any]]:
        """Every event the replay archive holds (read from moto's store: EventBridge's API has no
        call that lists them; a replay is the only way out on AWS)."""
        from moto.events.models import events_backends

        name = self.output("EventArchiveArn").rsplit("/", 1)[-1]
        return [dict(event) for event in events_backends[ACCOUNT][REGION].archives[name].events]

    def tap(self, pattern: dict[str, Any]) -> Tap:
        """Observe events matching ``pattern`` (a rule and an SQS queue added to moto for
        observation only; they are not part of the app)."""
        name = f"tap-{uuid.uuid4().hex[:12]}"
        url = self._sqs.create_queue(QueueName=name)["QueueUrl"]
        events = self.client("events")
        events.put_rule(Name=name, EventPattern=json.dumps(pattern))
        events.put_targets(
            Rule=name, Targets=[{"Id": "tap", "Arn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}"}]
        )
        return Tap(self._sqs, url)

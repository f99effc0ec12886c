"""The publisher never loses an entry silently: PutEvents answers 200 with failed entries."""

from __future__ import annotations

from typing import Any

import pytest

from loyalty.adapters.event_bus import EventBusPublisher, EventPublishError, OutgoingEvent


class FakeEvents:
    """Fails the first ``failures`` attempts of every entry whose detail type is in ``flaky``."""

    def __init__(self, *, flaky: set[str], failures: int) -> None:
        self.calls: list[list[dict[str, Any]]] = []
        self._flaky = flaky
        self._failures = failures

    def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:  # noqa: N803 - boto3 name
        self.calls.append(Entries)
        attempt = len(self.calls)
        results: list[dict[str, Any]] = []
        for entry in Entries:
            if entry["DetailType"] in self._flaky and attempt <= self._failures:
                results.append({"ErrorCode": "ThrottlingException", "ErrorMessage": "slow down"})
            else:
                results.append({"EventId": f"id-{attempt}"})
        return {"FailedEntryCount": sum("ErrorCode" in r for r in results), "Entries": results}


def publisher(client: FakeEvents) -> EventBusPublisher:
    return EventBusPublisher(client=client, bus_name="default", source="svc", sleep=lambda _: None)


def test_only_failed_entries_are_retried() -> None:
    client = FakeEvents(flaky={"b"}, failures=2)
    publisher(client).publish(
        [OutgoingEvent("a", {}), OutgoingEvent("b", {}), OutgoingEvent("c", {})]
    )
    assert [[e["DetailType"] for e in call] for call in client.calls] == [
        ["a", "b", "c"],
        ["b"],
        ["b"],
    ]


def test_persistent_failure_raises_with_the_error() -> None:
    client = FakeEvents(flaky={"b"}, failures=99)
    with pytest.raises(EventPublishError, match="ThrottlingException"):
        publisher(client).publish([OutgoingEvent("b", {})])
    assert len(client.calls) == 4


def test_entries_go_in_batches_of_ten() -> None:
    client = FakeEvents(flaky=set(), failures=0)
    publisher(client).publish([OutgoingEvent(str(i), {"i": i}) for i in range(23)])
    assert [len(call) for call in client.calls] == [10, 10, 3]
    assert client.calls[0][0]["Source"] == "svc"
    assert client.calls[0][0]["EventBusName"] == "default"


def test_a_detail_too_big_to_resume_a_task_is_refused_before_sending() -> None:
    client = FakeEvents(flaky=set(), failures=0)
    with pytest.raises(EventPublishError, match="262144"):
        publisher(client).publish([OutgoingEvent("big", {"blob": "x" * 262_144})])
    assert client.calls == []

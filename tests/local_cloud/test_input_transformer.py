"""The local EventBridge's input transformer renders as EventBridge documents it (moto's replaces
text, which breaks JSON and leaves missing placeholders in place)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from local_cloud.runtime.input_transformer import log_record, render, value_at

EVENT = {
    "source": "service-loyalty-order-process",
    "detail-type": "order.store",
    "time": "2026-11-30T12:00:00Z",
    "detail": {"order_reference": "R-1", "metadata": {"type": "order.store"}, "n": 3},
}
INGESTED = datetime(2026, 11, 30, 12, 0, 0, 125_000, tzinfo=UTC)


def test_a_placeholder_inside_a_string_takes_the_text_and_outside_the_json_value() -> None:
    transformer = {
        "InputPathsMap": {
            "ref": "$.detail.order_reference",
            "n": "$.detail.n",
            "dt": "$.detail-type",
        },
        "InputTemplate": '{"line": "<dt> <ref> <n>", "ref": <ref>, "n": <n>}',
    }
    assert render(transformer, EVENT, ingested_at=INGESTED) == {
        "line": "order.store R-1 3",
        "ref": "R-1",
        "n": 3,
    }


def test_a_value_is_not_escaped_so_a_quote_breaks_the_rendering() -> None:
    transformer = {
        "InputPathsMap": {"ref": "$.detail.order_reference"},
        "InputTemplate": '{"line": "order <ref>"}',
    }
    quoted = {**EVENT, "detail": {**EVENT["detail"], "order_reference": 'R-"1"'}}
    with pytest.raises(ValueError, match="rendered invalid JSON"):
        render(transformer, quoted, ingested_at=INGESTED)


def test_a_missing_path_gives_nothing_and_the_ingestion_time_is_predefined() -> None:
    transformer = {
        "InputPathsMap": {"gone": "$.detail.nothing.here", "ref": "$.detail.order_reference"},
        "InputTemplate": '{"gone": <gone>, "line": "<gone> <ref>", '
        '"at": "<aws.events.event.ingestion-time>"}',
    }
    assert render(transformer, EVENT, ingested_at=INGESTED) == {
        "gone": None,
        "line": " R-1",
        "at": "2026-11-30T12:00:00.125Z",
    }


def test_only_dot_notation_paths_are_supported() -> None:
    with pytest.raises(ValueError, match="dot notation only"):
        value_at(EVENT, "$['detail-type']")


def test_a_log_group_target_takes_a_timestamp_and_a_string_message() -> None:
    assert log_record({"timestamp": "2026-11-30T12:00:00.125Z", "message": "hello"}) == (
        int(INGESTED.timestamp() * 1000),
        "hello",
    )
    with pytest.raises(ValueError, match="must render"):
        log_record({"timestamp": "2026-11-30T12:00:00Z", "message": {"an": "object"}})
    with pytest.raises(ValueError, match="must render"):
        log_record({"message": "no time"})

"""The mediator's memory of one request, in the state table (moto): what it keeps and for how
long."""

from __future__ import annotations

import boto3
import pytest
from vendor_mediator.request_state import RequestState, RequestStates
from vendor_mediator.vendor_client import VendorJob

from tests.handlers.conftest import LoadHandler  # noqa: F401 - fixtures come from conftest

TTL = 86_400
KEY = "M101-S76-OP10-T65:voucher:1v8LlBkl"


@pytest.fixture
def states(state_table: str) -> RequestStates:
    return RequestStates(client=boto3.client("dynamodb"), table=state_table, ttl_seconds=TTL)


def _expiration(table: str) -> int:
    item = boto3.client("dynamodb").get_item(TableName=table, Key={"pk": {"S": f"request#{KEY}"}})
    return int(item["Item"]["expiration"]["N"])


def test_the_memory_expires_its_ttl_after_the_last_write_never_before(
    state_table: str, states: RequestStates
) -> None:
    """DynamoDB deletes the item at ``expiration``: a memory gone early would forget a call in
    doubt or the "not applied" fence while the request may still be delivered."""
    assert states.begin_call(KEY, now=1_000_000.9) is True
    assert _expiration(state_table) == 1_000_000 + TTL
    states.save(KEY, "message-1", now=1_000_500.0, trouble_since=1_000_000.9)
    assert _expiration(state_table) == 1_000_500 + TTL
    assert states.close(KEY, now=1_000_900.0) is False  # the call is still in doubt
    states.not_handled(KEY)
    assert states.close(KEY, now=1_000_900.0) is True
    assert _expiration(state_table) == 1_000_900 + TTL


def test_times_are_kept_to_the_millisecond(states: RequestStates) -> None:
    job = VendorJob("job_1", "/v1/jobs/job_1")
    states.save(
        KEY, "message-1", now=1_000_100.0, trouble_since=1_000_000.12345, job=(job, 1_000_050.6789)
    )
    assert states.load(KEY, "message-1") == RequestState(
        trouble_since=1_000_000.123, handled=1, job=job, job_accepted_at=1_000_050.679
    )

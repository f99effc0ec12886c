"""What the vendor client makes of the vendor's error answers: our words (its error code and the
HTTP status) in the error, and the vendor's own text (which may quote member data) kept apart for
the logs."""

from __future__ import annotations

import json
from typing import Any, cast

import pytest
import urllib3
from vendor_mediator.vendor_client import (
    VendorClient,
    VendorProtocolError,
    VendorRejectedError,
    VendorUnavailableError,
)


class OneAnswer:
    """A pool that answers every request with one scripted response, and keeps the requests."""

    def __init__(self, status: int, body: Any) -> None:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.response = urllib3.HTTPResponse(body=raw, status=status, preload_content=True)
        self.requests: list[tuple[tuple[Any, ...], dict[str, Any]]] = []

    def request(self, *args: Any, **kwargs: Any) -> urllib3.HTTPResponse:
        self.requests.append((args, kwargs))
        return self.response


def client(pool: OneAnswer) -> VendorClient:
    return VendorClient(
        base_url="https://vendor.example",
        api_key=lambda refresh: "key",
        connect_timeout=1,
        read_timeout=1,
        pool=cast(urllib3.PoolManager, pool),
    )


def deduct(status: int, body: Any) -> None:
    client(OneAnswer(status, body)).apply_points(
        "deduct",
        account="member-1",
        points=500,
        order_reference="O-1",
        merchant_reference="M-1",
        idempotency_key="O-1:points:points",
    )


def error(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


def test_a_rejection_names_the_vendors_code_and_keeps_its_words_apart() -> None:
    with pytest.raises(VendorRejectedError) as raised:
        deduct(422, error("insufficient_points", "member-1 has 100 points; cannot deduct 500"))

    assert str(raised.value) == "insufficient_points (HTTP 422)"
    assert raised.value.vendor_message == "member-1 has 100 points; cannot deduct 500"


def test_free_text_in_the_code_field_is_not_taken_for_a_code() -> None:
    with pytest.raises(VendorRejectedError) as raised:
        deduct(422, error("member-1 has 100 points", "no"))

    assert str(raised.value) == "unknown (HTTP 422)"


@pytest.mark.parametrize("status", [401, 429, 503])
def test_unavailability_keeps_the_vendors_words_apart_too(status: int) -> None:
    with pytest.raises(VendorUnavailableError) as raised:
        deduct(status, error("busy", "member-1 has 100 points"))

    assert "member-1" not in str(raised.value)
    assert str(raised.value).startswith(f"HTTP {status} busy")
    assert raised.value.vendor_message == "member-1 has 100 points"


def test_a_body_that_is_not_the_documented_error_is_kept_apart_whole() -> None:
    with pytest.raises(VendorRejectedError) as raised:
        deduct(400, b"<html>member-1 has 100 points</html>")

    assert str(raised.value) == "unknown (HTTP 400)"
    assert raised.value.vendor_message == "<html>member-1 has 100 points</html>"


def reverse(pool: OneAnswer) -> str:
    return client(pool).reverse_redemption(
        "voucher",
        code="SUMMER 10",
        account="member-1",
        order_reference="O-1",
        idempotency_key="O-1:voucher:SUMMER 10:reversal",
    )


def test_a_reversal_posts_the_order_to_the_codes_reversals_and_returns_the_reversal_id() -> None:
    pool = OneAnswer(
        201,
        {
            "reversal_id": "rev_1",
            "redemption_id": "red_1",
            "voucher_code": "SUMMER 10",
            "account": "member-1",
        },
    )

    assert reverse(pool) == "rev_1"
    [(args, kwargs)] = pool.requests
    assert args == ("POST", "https://vendor.example/v1/vouchers/SUMMER%2010/reversals")
    assert json.loads(kwargs["body"]) == {"account": "member-1", "order_reference": "O-1"}
    assert kwargs["headers"]["Idempotency-Key"] == "O-1:voucher:SUMMER 10:reversal"


def test_a_reversal_answer_without_its_reversal_id_is_a_protocol_error() -> None:
    # The redemption's id is in the answer too; it must not be taken for the reversal's.
    with pytest.raises(VendorProtocolError):
        reverse(OneAnswer(201, {"redemption_id": "red_1", "voucher_code": "SUMMER 10"}))


def test_a_refused_reversal_is_a_rejection_naming_the_vendors_code() -> None:
    refusal = error("voucher_not_redeemed", "voucher 'SUMMER 10' is not redeemed by member-1")

    with pytest.raises(VendorRejectedError) as raised:
        reverse(OneAnswer(409, refusal))

    assert (raised.value.status, raised.value.code) == (409, "voucher_not_redeemed")
    assert raised.value.vendor_message == "voucher 'SUMMER 10' is not redeemed by member-1"


def test_a_reversal_answered_503_is_unavailable_and_not_applied() -> None:
    with pytest.raises(VendorUnavailableError) as raised:
        reverse(OneAnswer(503, error("vendor_unavailable", "down for maintenance")))

    assert raised.value.status == 503
    assert raised.value.maybe_applied is False

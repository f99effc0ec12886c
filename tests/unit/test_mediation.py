"""What the mediator asks the vendor for, and how it reads the answers (no AWS, no HTTP)."""

from __future__ import annotations

from typing import Any

from vendor_mediator.mediation import idempotency_key, mediate
from vendor_mediator.vendor_client import (
    VendorProtocolError,
    VendorRejectedError,
    VendorUnavailableError,
)

from loyalty.contract import VendorStatus
from loyalty.events import VendorEvent
from tests.sample_events import load_event


class RecordingClient:
    def __init__(self, error: Exception | None = None) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self._error = error

    def _call(self, name: str, **kwargs: Any) -> str:
        self.calls.append((name, kwargs))
        if self._error:
            raise self._error
        return f"ref-{len(self.calls)}"

    def apply_points(self, operation: str, **kwargs: Any) -> str:
        return self._call(operation, **kwargs)

    def redeem(self, kind: str, **kwargs: Any) -> str:
        return self._call(kind, **kwargs)


def request(kind: str = "voucher", **data: Any) -> VendorEvent:
    detail = load_event("seed000_step1_voucher_request")["detail"]
    detail["metadata"]["type"] = kind
    detail["data"].update(data)
    return VendorEvent.model_validate(detail)


def test_seed_voucher_request_redeems_the_voucher_with_an_order_and_item_key() -> None:
    client = RecordingClient()
    verdict = mediate(request(), client)  # type: ignore[arg-type]
    assert verdict.status is VendorStatus.SUBMITTED
    assert verdict.vendor_references == ["ref-1"]
    assert client.calls == [
        (
            "voucher",
            {
                "code": "1v8LlBkl",
                "account": "P6IF7YcwQd",
                "order_reference": "M101-S76-OP10-T65",
                "idempotency_key": "M101-S76-OP10-T65:voucher:1v8LlBkl",
            },
        )
    ]


def test_the_idempotency_key_ignores_the_task_token() -> None:
    retried = request(loyalty_request_id="a-new-token-after-a-step-retry")
    assert idempotency_key(retried, "1v8LlBkl") == idempotency_key(request(), "1v8LlBkl")


def test_sale_credits_and_return_deducts_the_points() -> None:
    client = RecordingClient()
    mediate(request("sale", points=120, vouchers=[]), client)  # type: ignore[arg-type]
    mediate(request("return", points=30, vouchers=[]), client)  # type: ignore[arg-type]
    assert [(name, kw["points"], kw["idempotency_key"]) for name, kw in client.calls] == [
        ("credit", 120, "M101-S76-OP10-T65:sale:points"),
        ("deduct", 30, "M101-S76-OP10-T65:return:points"),
    ]


def test_zero_points_need_no_vendor_call() -> None:
    client = RecordingClient()
    verdict = mediate(request("sale", points=0, vouchers=[]), client)  # type: ignore[arg-type]
    assert verdict.status is VendorStatus.SUBMITTED
    assert client.calls == []


def test_rejection_is_answered_as_vendor_rejected_with_the_reason() -> None:
    error = VendorRejectedError(404, "voucher_not_found", "no such voucher")
    verdict = mediate(request(), RecordingClient(error))  # type: ignore[arg-type]
    assert verdict.status is VendorStatus.ERROR
    assert verdict.error is not None
    assert verdict.error.name == "VendorRejected"
    assert verdict.error.reason == "voucher_not_found: no such voucher (HTTP 404)"


def test_unavailable_and_garbage_get_their_own_names() -> None:
    down = mediate(request(), RecordingClient(VendorUnavailableError("HTTP 503")))  # type: ignore[arg-type]
    garbage = mediate(request(), RecordingClient(VendorProtocolError("not JSON")))  # type: ignore[arg-type]
    assert down.error is not None and down.error.name == "VendorUnavailable"
    assert garbage.error is not None and garbage.error.name == "VendorProtocolError"

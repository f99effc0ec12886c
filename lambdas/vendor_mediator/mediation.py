"""What the mediator does with one request: the vendor calls it needs and the verdict.

The idempotency key of every vendor call is derived from the order and the item, never from the
task token (a retried step gets a new token), so however often a request is delivered, retried or
re-sent by the state machine, the vendor applies it once.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from loyalty.contract import ErrorName, VendorRequestType, VendorStatus
from loyalty.events import VendorError, VendorEvent
from vendor_mediator.vendor_client import (
    VendorClient,
    VendorProtocolError,
    VendorRejectedError,
    VendorUnavailableError,
)


@dataclass(frozen=True)
class Verdict:
    status: VendorStatus
    vendor_references: list[str] = field(default_factory=list)
    error: VendorError | None = None


def idempotency_key(request: VendorEvent, item: str) -> str:
    """``<order>:<type>:<item>``, e.g. ``M101-S76-OP10-T65:voucher:1v8LlBkl``."""
    return f"{request.data.loyalty_order_reference}:{request.metadata.type.value}:{item}"


def perform(request: VendorEvent, client: VendorClient) -> list[str]:
    """Make the vendor calls the request asks for; returns the vendor's references."""
    data = request.data
    kind = request.metadata.type
    if kind in (VendorRequestType.SALE, VendorRequestType.RETURN):
        if not data.points:
            return []  # nothing earned (fully discounted) or nothing to give back
        return [
            client.apply_points(
                "credit" if kind is VendorRequestType.SALE else "deduct",
                account=data.loyalty_reference,
                points=data.points,
                order_reference=data.loyalty_order_reference,
                merchant_reference=data.merchant_reference,
                idempotency_key=idempotency_key(request, "points"),
            )
        ]
    if kind is VendorRequestType.VOUCHER:
        codes = [v.voucher_code for v in data.vouchers]
    else:
        codes = [r.reward_code for r in data.rewards]
    return [
        client.redeem(
            "voucher" if kind is VendorRequestType.VOUCHER else "reward",
            code=code,
            account=data.loyalty_reference,
            order_reference=data.loyalty_order_reference,
            idempotency_key=idempotency_key(request, code),
        )
        for code in codes
    ]


def mediate(request: VendorEvent, client: VendorClient) -> Verdict:
    try:
        references = perform(request, client)
    except VendorRejectedError as err:
        return _error(ErrorName.VENDOR_REJECTED, str(err))
    except VendorUnavailableError as err:
        return _error(ErrorName.VENDOR_UNAVAILABLE, str(err))
    except VendorProtocolError as err:
        return _error(ErrorName.VENDOR_PROTOCOL_ERROR, str(err))
    return Verdict(VendorStatus.SUBMITTED, vendor_references=references)


def _error(name: ErrorName, reason: str) -> Verdict:
    return Verdict(VendorStatus.ERROR, error=VendorError(name=name.value, reason=reason))

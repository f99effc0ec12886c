"""The sample batch `make run` pushes through the local cloud: a mix of sales, returns, vouchers,
rewards, orders that wait for a person (one approved, one rejected, one cancelled by the
customer) and orders that must fail (one of them after an effect was applied: compensated, then
re-run once its cause is put right), each with the outcome it should have and the channel it
comes through (the Order API, or straight onto the bus as a till integration would)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from fake_vendor import FakeVendor
from loyalty.contract import ErrorName

CUSTOMER = "P6IF7YcwQd"  # seed 000's loyalty_reference
MERCHANT = "xz5CzHM1wZOm"  # seed 000's merchant_reference
OTHER_CUSTOMER = "Q7JG8ZdxRe"


@dataclass(frozen=True)
class SampleOrder:
    description: str
    order: dict[str, Any]
    expected_status: str
    expected_error: str | None = None
    channel: Literal["api", "bus"] = "api"
    decision: Literal["approve", "reject", "cancel"] | None = None
    """What happens when the order waits for approval: a reviewer approves or rejects it, or the
    customer cancels it."""
    repair: Callable[[FakeVendor], None] | None = None
    """Puts the order's cause of failure right at the vendor; the run then re-runs the order
    (``POST /orders/{reference}/actions/retry``) and expects it COMPLETED."""

    @property
    def reference(self) -> str:
        return str(self.order["order_reference"])


def _sale(reference: str, lines: list[tuple[str, int, str]], **extra: Any) -> dict[str, Any]:
    return {
        "order_reference": reference,
        "loyalty_reference": CUSTOMER,
        "merchant_reference": MERCHANT,
        "order_type": "sale",
        "currency": "GBP",
        "lines": [{"sku": sku, "quantity": qty, "unit_price": price} for sku, qty, price in lines],
        **extra,
    }


def _return(reference: str, lines: list[tuple[str, int, str]], **extra: Any) -> dict[str, Any]:
    return {
        **_sale(reference, lines),
        "order_type": "return",
        "original_order_reference": "M090-S76-OP01-T01",
        **extra,
    }


def sample_orders() -> list[SampleOrder]:
    return [
        SampleOrder(
            "seed 000's order: a sale redeeming voucher 1v8LlBkl",
            _sale(
                "M101-S76-OP10-T65",
                [("LEGO-10305", 1, "349.99")],
                vouchers=[{"voucher_code": "1v8LlBkl"}],
            ),
            "COMPLETED",
        ),
        SampleOrder(
            "sale with a discount, two vouchers and an instant reward",
            _sale(
                "M101-S76-OP10-T66",
                [("LEGO-42151", 2, "49.99"), ("LEGO-60337", 1, "99.99"), ("LEGO-40516", 3, "9.99")],
                discount="20.00",
                vouchers=[{"voucher_code": "SPRING-5"}, {"voucher_code": "VIP-10"}],
                rewards=[{"reward_code": "FREE-MINIFIG"}],
            ),
            "COMPLETED",
        ),
        SampleOrder(
            "plain sale for another member, from a till",
            {
                **_sale("M102-S12-OP03-T01", [("LEGO-21330", 1, "299.99")]),
                "loyalty_reference": OTHER_CUSTOMER,
            },
            "COMPLETED",
            channel="bus",
        ),
        SampleOrder(
            "return of part of an earlier sale (points deducted)",
            _return("M101-S76-OP10-R01", [("LEGO-40516", 1, "9.99")]),
            "COMPLETED",
        ),
        SampleOrder(
            "legacy till return: negative quantities, no order type",
            {
                **{
                    k: v
                    for k, v in _return("M103-S02-OP07-R02", [("LEGO-60337", -1, "99.99")]).items()
                    if k != "order_type"
                },
                "loyalty_reference": OTHER_CUSTOMER,
            },
            "COMPLETED",
            channel="bus",
        ),
        SampleOrder(
            "high-value return: waits for a person, who approves it",
            _return("M106-S76-OP04-R03", [("LEGO-10294", 1, "679.99")]),
            "COMPLETED",
            decision="approve",
        ),
        SampleOrder(
            "high-value return: waits for a person, who rejects it",
            _return("M106-S76-OP04-R04", [("LEGO-75313", 1, "849.99")]),
            "REJECTED",
            decision="reject",
        ),
        SampleOrder(
            "high-value return: waits for a person, then the customer cancels it",
            _return("M106-S76-OP04-R05", [("LEGO-10316", 1, "599.99")]),
            "CANCELLED",
            ErrorName.ORDER_CANCELLED.value,
            decision="cancel",
        ),
        SampleOrder(
            "invalid order from a till: quantity 0 and no currency",
            {
                k: v
                for k, v in _sale("M104-S01-OP01-T09", [("LEGO-10305", 0, "349.99")]).items()
                if k != "currency"
            },
            "FAILED",
            ErrorName.ORDER_VALIDATION_ERROR.value,
            channel="bus",
        ),
        SampleOrder(
            "unknown order type, from a till",
            {**_sale("M104-S01-OP01-X01", [("LEGO-10305", 1, "349.99")]), "order_type": "exchange"},
            "FAILED",
            ErrorName.UNKNOWN_ORDER_TYPE.value,
            channel="bus",
        ),
        SampleOrder(
            "voucher the vendor does not know",
            _sale(
                "M105-S09-OP02-T04",
                [("LEGO-42151", 1, "49.99")],
                vouchers=[{"voucher_code": "EXPIRED-99"}],
            ),
            "FAILED",
            ErrorName.VENDOR_REJECTED.value,
            # Its points were credited before the voucher was refused: given back
            # (compensation). Once the voucher exists, a re-run completes it.
            repair=lambda vendor: vendor.add_voucher("EXPIRED-99"),
        ),
    ]


def invalid_api_order() -> dict[str, Any]:
    """Refused by the Order API with field-level messages; never reaches the state machine."""
    return _sale("M104-S01-OP01-T10", [("LEGO-10305", -2, "349.999")])


def seed_vendor(vendor: FakeVendor) -> None:
    """Members, vouchers and rewards the vendor knows (EXPIRED-99 deliberately missing)."""
    vendor.add_account(CUSTOMER, balance=10_000)
    vendor.add_account(OTHER_CUSTOMER, balance=500)
    for code in ("1v8LlBkl", "SPRING-5", "VIP-10"):
        vendor.add_voucher(code)
    vendor.add_reward("FREE-MINIFIG")

"""Generated batches of orders for ``python -m local_cloud run --orders N --mix ... --seed S``.

A mix names kinds of order and their weights, e.g. ``sale=4,vouchers=3,return=2,approve=1``.
Each kind knows the outcome it must have, so a run can tell an unexpected result from an expected
failure, and each order's expected vendor effects (points, vouchers, rewards) are computed here
from the order itself with the domain's own arithmetic, so the run can check the vendor's ledger
against them. The same seed gives the same orders.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from fake_vendor import FakeVendor
from local_cloud.run.sample_orders import MERCHANT, SampleOrder
from loyalty.contract import ErrorName
from loyalty.domain.recognition import recognise_order
from loyalty.domain.transform import to_loyalty_instructions
from loyalty.domain.validation import validate_order

MEMBERS = ("GEN-MEMBER-A", "GEN-MEMBER-B", "GEN-MEMBER-C")
SKUS = ("LEGO-10305", "LEGO-42151", "LEGO-60337", "LEGO-40516", "LEGO-21330", "LEGO-75313")
DEFAULT_MIX = (
    "sale=4,vouchers=3,return=2,approve=1,reject=1,invalid=1,unknown-type=1,unknown-voucher=1"
)
APPROVAL_PRICE = "679.99"  # above the default approval threshold (500.00)


@dataclass(frozen=True)
class Effects:
    """What an order asks the vendor to do."""

    points: int = 0
    operation: str | None = None  # "credit" | "deduct"
    vouchers: tuple[str, ...] = ()
    rewards: tuple[str, ...] = ()


def expected_effects(order: dict[str, Any], points_rate: Decimal) -> Effects:
    """The effects of ``order`` if it completes (the domain's own recognition, validation and
    arithmetic, as the state machine's workers apply them)."""
    instructions = to_loyalty_instructions(validate_order(recognise_order(order)), points_rate)
    return Effects(
        points=instructions.points,
        operation="credit" if instructions.order_type == "sale" else "deduct",
        vouchers=tuple(sorted(v.voucher_code for v in instructions.vouchers)),
        rewards=tuple(sorted(r.reward_code for r in instructions.rewards)),
    )


def parse_mix(text: str) -> dict[str, int]:
    """``kind=weight,...`` → weights. Raises ValueError naming what is wrong."""
    weights: dict[str, int] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        kind, _, weight = part.partition("=")
        kind = kind.strip()
        if kind not in KINDS:
            raise ValueError(f"unknown order kind {kind!r}; known kinds: {', '.join(KINDS)}")
        try:
            value = int(weight or "1")
        except ValueError:
            raise ValueError(f"weight of {kind!r} must be a whole number, got {weight!r}") from None
        if value < 0:
            raise ValueError(f"weight of {kind!r} must be >= 0, got {value}")
        weights[kind] = value
    if not any(weights.values()):
        raise ValueError(f"the mix {text!r} has no kind with a positive weight")
    return weights


class _Maker:
    """Builds one order of a kind; unique codes per order so effects can be checked per order."""

    def __init__(self, rng: random.Random, reference: str) -> None:
        self.rng = rng
        self.reference = reference

    def lines(
        self, count: int | None = None, *, price: str | None = None, max_quantity: int = 3
    ) -> list[dict[str, Any]]:
        return [
            {
                "sku": self.rng.choice(SKUS),
                "quantity": self.rng.randint(1, max_quantity),
                "unit_price": price or f"{self.rng.randint(5, 120)}.{self.rng.randint(0, 99):02d}",
            }
            for _ in range(count or self.rng.randint(1, 4))
        ]

    def order(self, order_type: str, lines: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
        order: dict[str, Any] = {
            "order_reference": self.reference,
            "loyalty_reference": self.rng.choice(MEMBERS),
            "merchant_reference": MERCHANT,
            "order_type": order_type,
            "currency": "GBP",
            "lines": lines,
            **extra,
        }
        if order_type == "return":
            order["original_order_reference"] = f"ORIG-{self.reference}"
        return order

    def codes(self, prefix: str, count: int) -> list[str]:
        return [f"{prefix}-{self.reference}-{i}" for i in range(count)]


def _sale(m: _Maker) -> SampleOrder:
    lines = m.lines()
    gross = sum(Decimal(line["unit_price"]) * line["quantity"] for line in lines)
    discount = {"discount": f"{gross * Decimal(m.rng.choice((0, 5, 10, 20))) / 100:.2f}"}
    return SampleOrder("sale", m.order("sale", lines, **discount), "COMPLETED", channel=_via(m))


def _vouchers(m: _Maker) -> SampleOrder:
    vouchers = [{"voucher_code": c} for c in m.codes("V", m.rng.randint(1, 3))]
    rewards = [{"reward_code": c} for c in m.codes("R", m.rng.randint(0, 1))]
    order = m.order("sale", m.lines(), vouchers=vouchers, rewards=rewards)
    return SampleOrder("sale with vouchers and rewards", order, "COMPLETED", channel=_via(m))


def _return(m: _Maker) -> SampleOrder:
    # at most 2 x 120.99: below the approval threshold, so it completes without a person
    order = m.order("return", m.lines(m.rng.randint(1, 2), max_quantity=1))
    return SampleOrder("return", order, "COMPLETED", channel=_via(m))


def _approve(m: _Maker) -> SampleOrder:
    order = m.order("return", m.lines(1, price=APPROVAL_PRICE))
    return SampleOrder("high-value return, approved", order, "COMPLETED", decision="approve")


def _reject(m: _Maker) -> SampleOrder:
    order = m.order("return", m.lines(1, price=APPROVAL_PRICE))
    return SampleOrder("high-value return, rejected", order, "REJECTED", decision="reject")


def _invalid(m: _Maker) -> SampleOrder:
    order = m.order("sale", m.lines())
    order["lines"][0]["quantity"] = 0
    return SampleOrder(
        "invalid order", order, "FAILED", ErrorName.ORDER_VALIDATION_ERROR.value, channel="bus"
    )


def _unknown_type(m: _Maker) -> SampleOrder:
    order = m.order("exchange", m.lines())
    return SampleOrder(
        "unknown order type", order, "FAILED", ErrorName.UNKNOWN_ORDER_TYPE.value, channel="bus"
    )


def _unknown_voucher(m: _Maker) -> SampleOrder:
    # "EXPIRED-" codes are never registered with the vendor: it rejects them.
    order = m.order("sale", m.lines(), vouchers=[{"voucher_code": f"EXPIRED-{m.reference}"}])
    return SampleOrder(
        "voucher the vendor rejects", order, "FAILED", ErrorName.VENDOR_REJECTED.value
    )


def _via(m: _Maker) -> Any:
    return m.rng.choice(("api", "bus"))


KINDS: dict[str, Callable[[_Maker], SampleOrder]] = {
    "sale": _sale,
    "vouchers": _vouchers,
    "return": _return,
    "approve": _approve,
    "reject": _reject,
    "invalid": _invalid,
    "unknown-type": _unknown_type,
    "unknown-voucher": _unknown_voucher,
}


def generate_orders(count: int, mix: str = DEFAULT_MIX, seed: int = 1) -> list[SampleOrder]:
    """``count`` orders drawn from ``mix`` (every kind with a positive weight appears at least
    once when ``count`` allows), reproducible from ``seed``; none for 0."""
    if count < 0:
        raise ValueError(f"the number of orders must be at least 0, got {count}")
    weights = parse_mix(mix)
    rng = random.Random(seed)
    kinds = [kind for kind, weight in weights.items() if weight > 0][:count]
    kinds += rng.choices(list(weights), weights=list(weights.values()), k=count - len(kinds))
    rng.shuffle(kinds)
    return [KINDS[kind](_Maker(rng, f"GEN{seed}-{i:05d}")) for i, kind in enumerate(kinds, 1)]


def seed_vendor_for(vendor: FakeVendor, samples: list[SampleOrder]) -> None:
    """The members, vouchers and rewards the generated orders use (``EXPIRED-`` codes left out
    on purpose)."""
    for member in MEMBERS:
        vendor.add_account(member, balance=1_000_000)
    seed_codes_for(vendor, samples)


def seed_codes_for(vendor: FakeVendor, samples: list[SampleOrder]) -> None:
    """The vouchers and rewards the generated orders use (``EXPIRED-`` codes left out), for a
    vendor whose members are there already (their balances are left as they are)."""
    for sample in samples:
        for voucher in sample.order.get("vouchers", []):
            if not voucher["voucher_code"].startswith("EXPIRED-"):
                vendor.add_voucher(voucher["voucher_code"])
        for reward in sample.order.get("rewards", []):
            vendor.add_reward(reward["reward_code"])

"""The order as the loyalty domain sees it, after recognition and before proportioning.

Models are frozen and forbid unknown fields: an order is a fact that travels through
events and Step Functions state, so it must round-trip through
`model_dump(mode="json")` unchanged and must never be edited in place.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal, Self

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from loyalty.contract import MAX_LINES, MAX_REWARDS, MAX_VOUCHERS, order_reference_problem
from loyalty.domain.errors import FieldProblem

OrderType = Literal["sale", "return"]

CENT = Decimal("0.01")

# Upper bounds keep every sum well inside Decimal's default 28-digit precision
# (10,000 lines x 1e6 units x 1e9 per unit: 22 digits), so arithmetic stays exact and never raises.
MAX_AMOUNT = Decimal("999999999.99")
MAX_QUANTITY = 1_000_000


def _to_cents(amount: Decimal) -> Decimal:
    # One canonical form ("5.00", not "5" or "5.0") for what travels in events.
    return amount.quantize(CENT)


Money = Annotated[
    Decimal,
    Field(ge=0, le=MAX_AMOUNT, decimal_places=2),
    AfterValidator(_to_cents),
]
Reference = Annotated[str, Field(min_length=1, max_length=64)]
Code = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


def _canonical_reference(value: object) -> object:
    # Checked before the model strips whitespace: a reference is used as sent (execution name,
    # table key, vendor idempotency keys), so " R-1" must be refused, not quietly become "R-1".
    problem = order_reference_problem(value)
    if problem is not None and isinstance(value, str):
        raise ValueError(problem)
    return value


OrderReference = Annotated[str, BeforeValidator(_canonical_reference)]
CurrencyCode = Annotated[str, Field(pattern=r"^[A-Z]{3}$")]


class OrderRuleViolations(ValueError):  # noqa: N818 - carrier, never leaves the domain
    """Raised by model validators to report several cross-field problems at once.

    Pydantic wraps it in a `ValidationError` and keeps the instance in the error's
    context, which lets `validate_order` report each problem against its own field
    instead of one anonymous "Value error".
    """

    def __init__(self, problems: Sequence[FieldProblem]) -> None:
        self.problems: tuple[FieldProblem, ...] = tuple(problems)
        super().__init__("; ".join(f"{p.field}: {p.message}" for p in self.problems))


class _DomainModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class OrderLine(_DomainModel):
    """One SKU on the order.

    `discount` is this line's share of the order-level discount, set by
    `proportion_discount`; callers normally leave it at zero.
    """

    sku: Reference
    quantity: int = Field(gt=0, le=MAX_QUANTITY)
    unit_price: Money
    discount: Money = Decimal("0.00")
    description: str | None = Field(default=None, max_length=200)

    @property
    def gross(self) -> Decimal:
        return _to_cents(self.quantity * self.unit_price)

    @property
    def net(self) -> Decimal:
        return self.gross - self.discount

    @model_validator(mode="after")
    def _discount_within_gross(self) -> Self:
        if self.discount > self.gross:
            raise OrderRuleViolations(
                [
                    FieldProblem(
                        "discount", f"must not exceed the line's gross amount ({self.gross})"
                    )
                ]
            )
        return self


class VoucherRef(_DomainModel):
    voucher_code: Code


class RewardRef(_DomainModel):
    reward_code: Code


class Order(_DomainModel):
    """A recognised sale or return, validated field by field and across fields."""

    order_reference: OrderReference
    loyalty_reference: Reference
    merchant_reference: Reference
    order_type: OrderType
    currency: CurrencyCode
    lines: list[OrderLine] = Field(min_length=1, max_length=MAX_LINES)
    discount: Money = Decimal("0.00")
    vouchers: list[VoucherRef] = Field(default_factory=list, max_length=MAX_VOUCHERS)
    rewards: list[RewardRef] = Field(default_factory=list, max_length=MAX_REWARDS)
    original_order_reference: Reference | None = None
    placed_at: datetime | None = None

    @property
    def gross_total(self) -> Decimal:
        return sum((line.gross for line in self.lines), Decimal("0.00"))

    @model_validator(mode="after")
    def _cross_field_rules(self) -> Self:
        # Collect every problem, so a caller fixes the order in one round trip.
        problems = [
            *self._discount_problems(),
            *_duplicate_problems(
                "vouchers", "voucher_code", (v.voucher_code for v in self.vouchers)
            ),
            *_duplicate_problems("rewards", "reward_code", (r.reward_code for r in self.rewards)),
            *self._order_type_problems(),
        ]
        if problems:
            raise OrderRuleViolations(problems)
        return self

    def _discount_problems(self) -> list[FieldProblem]:
        if self.discount > self.gross_total:
            return [
                FieldProblem(
                    "discount", f"must not exceed the gross total of the lines ({self.gross_total})"
                )
            ]
        return []

    def _order_type_problems(self) -> list[FieldProblem]:
        if self.order_type == "sale":
            if self.original_order_reference is not None:
                return [FieldProblem("original_order_reference", "must not be set for a sale")]
            return []
        problems = []
        if self.original_order_reference is None:
            problems.append(FieldProblem("original_order_reference", "is required for a return"))
        # A return only gives back points; vouchers and rewards are redeemed on sales.
        if self.vouchers:
            problems.append(FieldProblem("vouchers", "must be empty for a return"))
        if self.rewards:
            problems.append(FieldProblem("rewards", "must be empty for a return"))
        return problems


def _duplicate_problems(
    list_field: str, code_field: str, codes: Iterable[str]
) -> list[FieldProblem]:
    """One problem per repeated code, pointing at the repeat (the first use is fine)."""
    seen: set[str] = set()
    problems = []
    for index, code in enumerate(codes):
        if code in seen:
            problems.append(
                FieldProblem(f"{list_field}[{index}].{code_field}", f"duplicate code {code!r}")
            )
        seen.add(code)
    return problems

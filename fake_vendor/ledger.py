"""The vendor's books: members' points balances and their ledger, voucher and reward codes, their
redemptions and reversals. Plain logic that answers each operation as the HTTP API does; not
thread-safe (the vendor calls it under its lock)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal, cast

from fake_vendor.wire import (
    MAX_POINTS,
    InvalidRequestError,
    Reply,
    check_fields,
    error,
    json_reply,
    new_id,
    required_str,
)

Operation = Literal["credit", "deduct"]
RedemptionKind = Literal["voucher", "reward"]


@dataclass(frozen=True)
class LedgerEntry:
    """A points operation that took effect on an account."""

    transaction_id: str
    account: str
    operation: Operation
    points: int
    order_reference: str
    merchant_reference: str
    idempotency_key: str
    at: float


@dataclass(frozen=True)
class Redemption:
    """A voucher or instant-reward redemption that took effect.

    ``reversal_id`` is set once the redemption has been reversed (see ``Reversal``); the record
    stays in ``FakeVendor.redemptions()`` either way.
    """

    redemption_id: str
    kind: RedemptionKind
    code: str
    account: str
    order_reference: str
    idempotency_key: str
    at: float
    reversal_id: str | None = None

    @property
    def reversed(self) -> bool:
        return self.reversal_id is not None


@dataclass(frozen=True)
class Reversal:
    """A reversal of a redemption (``redemption_id``) that took effect: the code was freed."""

    reversal_id: str
    kind: RedemptionKind
    code: str
    account: str
    order_reference: str
    redemption_id: str
    idempotency_key: str
    at: float


class Books:
    """Balances, codes and what took effect on them, in order."""

    def __init__(self) -> None:
        self.accounts: dict[str, int] = {}
        # code -> redemption id once redeemed (None while still available).
        self.codes: dict[RedemptionKind, dict[str, str | None]] = {"voucher": {}, "reward": {}}
        self.ledger: list[LedgerEntry] = []
        # Every redemption that took effect, in order; a reversed one is replaced by its copy with
        # reversal_id set, never removed.
        self.redemptions: list[Redemption] = []
        self.reversals: list[Reversal] = []

    def clear(self) -> None:
        self.accounts.clear()
        for catalog in self.codes.values():
            catalog.clear()
        self.ledger.clear()
        self.redemptions.clear()
        self.reversals.clear()

    # ---- seeding ---------------------------------------------------------------------------

    def add_account(self, account: str, balance: int) -> None:
        if account in self.accounts:
            raise ValueError(f"account {account!r} already exists")
        self.accounts[account] = balance

    def add_code(self, kind: RedemptionKind, code: str) -> None:
        if code in self.codes[kind]:
            raise ValueError(f"{kind} {code!r} already exists")
        self.codes[kind][code] = None

    # ---- the API's operations ----------------------------------------------------------------

    def account(self, account: str) -> Reply:
        if account not in self.accounts:
            return _no_account(account)
        return json_reply(200, {"account": account, "balance": self.accounts[account]})

    def points(self, account: str, payload: Mapping[str, Any], key: str) -> Reply:
        operation, points, order_reference, merchant_reference = points_fields(payload)
        if account not in self.accounts:
            return _no_account(account)
        balance = self.accounts[account]
        if operation == "deduct" and points > balance:
            return error(
                422,
                "insufficient_points",
                f"account {account!r} has {balance} points; cannot deduct {points}",
            )
        balance = balance + points if operation == "credit" else balance - points
        self.accounts[account] = balance
        entry = LedgerEntry(
            transaction_id=new_id("txn"),
            account=account,
            operation=operation,
            points=points,
            order_reference=order_reference,
            merchant_reference=merchant_reference,
            idempotency_key=key,
            at=time.time(),
        )
        self.ledger.append(entry)
        return json_reply(
            201,
            {
                "transaction_id": entry.transaction_id,
                "account": account,
                "operation": operation,
                "points": points,
                "balance": balance,
            },
        )

    def redeem(
        self, kind: RedemptionKind, code: str, payload: Mapping[str, Any], key: str
    ) -> Reply:
        found = self._code_request(kind, code, payload)
        if isinstance(found, Reply):
            return found
        account, order_reference = found
        catalog = self.codes[kind]
        if catalog[code] is not None:
            return error(409, f"{kind}_already_redeemed", f"{kind} {code!r} was already redeemed")
        redemption = Redemption(
            redemption_id=new_id("red"),
            kind=kind,
            code=code,
            account=account,
            order_reference=order_reference,
            idempotency_key=key,
            at=time.time(),
        )
        catalog[code] = redemption.redemption_id
        self.redemptions.append(redemption)
        return json_reply(
            201,
            {"redemption_id": redemption.redemption_id, f"{kind}_code": code, "account": account},
        )

    def reverse(
        self, kind: RedemptionKind, code: str, payload: Mapping[str, Any], key: str
    ) -> Reply:
        found_code = self._code_request(kind, code, payload)
        if isinstance(found_code, Reply):
            return found_code
        account, order_reference = found_code
        catalog = self.codes[kind]
        # Where the code's current redemption is in the history (None: the code is not redeemed).
        current = catalog[code]
        found = next(
            ((i, r) for i, r in enumerate(self.redemptions) if r.redemption_id == current), None
        )
        if found is None or (found[1].account, found[1].order_reference) != (
            account,
            order_reference,
        ):
            # One answer for "not redeemed" and "redeemed by someone else": the caller learns
            # nothing about other members' orders.
            return error(
                409,
                f"{kind}_not_redeemed",
                f"{kind} {code!r} is not redeemed by account {account!r} "
                f"for order {order_reference!r}",
            )
        index, redemption = found
        reversal = Reversal(
            reversal_id=new_id("rev"),
            kind=kind,
            code=code,
            account=account,
            order_reference=order_reference,
            redemption_id=redemption.redemption_id,
            idempotency_key=key,
            at=time.time(),
        )
        self.redemptions[index] = replace(redemption, reversal_id=reversal.reversal_id)
        catalog[code] = None
        self.reversals.append(reversal)
        return json_reply(
            201,
            {
                "reversal_id": reversal.reversal_id,
                "redemption_id": redemption.redemption_id,
                f"{kind}_code": code,
                "account": account,
            },
        )

    def _code_request(
        self, kind: RedemptionKind, code: str, payload: Mapping[str, Any]
    ) -> tuple[str, str] | Reply:
        """A redemption's or reversal's body checked, and the code and account looked up: the
        account and the order reference, or the 404 to answer."""
        account, order_reference = code_fields(payload)
        if code not in self.codes[kind]:
            return error(404, f"{kind}_not_found", f"{kind} {code!r} does not exist")
        if account not in self.accounts:
            return _no_account(account)
        return account, order_reference


def points_fields(payload: Mapping[str, Any]) -> tuple[Operation, int, str, str]:
    """A points body checked: operation, points, order and merchant references."""
    check_fields(payload, ("operation", "points", "order_reference", "merchant_reference"))
    operation = payload.get("operation")
    if operation not in ("credit", "deduct"):
        raise InvalidRequestError("field 'operation' is required and must be 'credit' or 'deduct'")
    points = payload.get("points")
    if not isinstance(points, int) or isinstance(points, bool) or not 1 <= points <= MAX_POINTS:
        raise InvalidRequestError(
            f"field 'points' is required and must be an integer from 1 to {MAX_POINTS}"
        )
    order_reference = required_str(payload, "order_reference")
    merchant_reference = required_str(payload, "merchant_reference")
    return cast(Operation, operation), points, order_reference, merchant_reference


def code_fields(payload: Mapping[str, Any]) -> tuple[str, str]:
    """A redemption's or reversal's body checked: account and order reference."""
    check_fields(payload, ("account", "order_reference"))
    return required_str(payload, "account"), required_str(payload, "order_reference")


def _no_account(account: str) -> Reply:
    return error(404, "account_not_found", f"account {account!r} does not exist")

"""Business failures that retrying cannot fix.

Handlers let these escape as Step Functions errors named by `error_name`, so the
state machine can route them to a failure path instead of its retry policy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from loyalty.contract import ErrorName


class DomainError(Exception):
    """Base for business failures that must NOT be retried."""

    error_name: str = "DomainError"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class OrderCancelled(DomainError):  # noqa: N818 - the name is the Step Functions error name
    """Somebody cancelled the order: the step that notices stops it."""

    error_name = ErrorName.ORDER_CANCELLED.value


class UnknownOrderType(DomainError):  # noqa: N818 - the name is the Step Functions error name
    """The order is neither a recognisable sale nor a recognisable return."""

    error_name = ErrorName.UNKNOWN_ORDER_TYPE.value


@dataclass(frozen=True)
class FieldProblem:
    """One thing wrong with an order.

    `field` is a readable path such as `lines[0].quantity`, or `order` for the whole order.
    """

    field: str
    message: str


class OrderValidationError(DomainError):
    """The order breaks one or more field or cross-field rules."""

    error_name = ErrorName.ORDER_VALIDATION_ERROR.value

    def __init__(self, problems: list[FieldProblem]) -> None:
        self.problems: list[FieldProblem] = list(problems)
        super().__init__(
            "order is invalid: " + "; ".join(f"{p.field}: {p.message}" for p in self.problems)
        )

    def __reduce__(self) -> tuple[Any, ...]:
        # Exception pickling replays `args` (the message); rebuild from problems instead.
        return (type(self), (self.problems,))

"""Validate a recognised raw order into an `Order`, with problems people can act on."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from loyalty.domain.errors import FieldProblem, OrderValidationError
from loyalty.domain.orders import Order, OrderRuleViolations

WHOLE_ORDER = "order"


def validate_order(raw: Mapping[str, Any]) -> Order:
    """Build an `Order` from `raw` or raise `OrderValidationError`.

    Problems come in pydantic's order (model field order, then list index), which is
    stable for a given input, with duplicates removed.
    """
    try:
        return Order.model_validate(raw)
    except ValidationError as exc:
        problems = [p for error in exc.errors(include_url=False) for p in _problems_from(error)]
        # The problems say everything; pydantic's chain would only repeat them with raw input.
        raise OrderValidationError(list(dict.fromkeys(problems))) from None


def _problems_from(error: ErrorDetails) -> Iterator[FieldProblem]:
    location = field_path(error["loc"])
    carried = error.get("ctx", {}).get("error")
    if isinstance(carried, OrderRuleViolations):
        # Cross-field rules name their own fields, relative to the model that raised them.
        for problem in carried.problems:
            yield FieldProblem(_join(location, problem.field), problem.message)
    else:
        yield FieldProblem(location or WHOLE_ORDER, error["msg"])


def field_path(loc: tuple[int | str, ...]) -> str:
    """`('lines', 0, 'quantity')` -> `lines[0].quantity`; `()` -> `""`."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else part
    return path


def _join(prefix: str, field: str) -> str:
    if not prefix:
        return field
    return prefix if field == WHOLE_ORDER else f"{prefix}.{field}"

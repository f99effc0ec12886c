"""Decide whether a raw order is a sale or a return, before it is validated.

Upstream systems do not all say so explicitly: newer ones send `order_type`, some send
only `original_order_reference` on returns, and legacy tills send a return as a sale
with negative quantities. Recognition turns all of these into an explicit `order_type`
(and positive quantities), so validation and everything after it see one shape.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from loyalty.domain.errors import FieldProblem, OrderValidationError, UnknownOrderType

_KNOWN_TYPES = ("sale", "return")


def recognise_order(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Return a shallow copy of `raw` with `order_type` set to "sale" or "return".

    Rules, first match wins:
    1. an explicit `order_type` is normalised (strip, lower-case) and must be known;
    2. a non-blank `original_order_reference` means a return;
    3. lines whose numeric quantities are all negative mean a legacy return;
    4. otherwise it is a sale.
    Returns with negative quantities (legacy tills, however the type was given) get them
    made positive; a mix of negative and positive quantities is refused.

    `raw` is never mutated. Raises `OrderValidationError` if `raw` is not an object and
    `UnknownOrderType` if the type is unsupported or ambiguous.
    """
    if not isinstance(raw, Mapping):
        raise OrderValidationError([FieldProblem("order", "must be a JSON object")])
    order = dict(raw)
    # JSON null is treated like an absent key: both mean "the sender did not say".
    if order.get("order_type") is not None:
        order["order_type"] = _explicit_type(order["order_type"])
    elif _has_original_reference(order):
        order["order_type"] = "return"
    else:
        order["order_type"] = _type_from_quantities(order.get("lines"))
    if order["order_type"] == "return" and _has_returned_lines(order.get("lines")):
        order["lines"] = [_with_positive_quantity(line) for line in order["lines"]]
    return order


def _explicit_type(value: object) -> str:
    if isinstance(value, str) and value.strip().lower() in _KNOWN_TYPES:
        return value.strip().lower()
    raise UnknownOrderType(f"order type {value!r} is not supported; expected 'sale' or 'return'")


def _has_original_reference(order: Mapping[str, Any]) -> bool:
    reference = order.get("original_order_reference")
    if isinstance(reference, str):
        return bool(reference.strip())
    return reference is not None


def _is_number(value: object) -> bool:
    # bool is an int subclass, but `"quantity": true` is not a count.
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


def _has_returned_lines(lines: object) -> bool:
    """Whether any line has a negative quantity; refuses a mix of sold and returned lines."""
    if not isinstance(lines, list):
        return False
    quantities = [
        line["quantity"]
        for line in lines
        if isinstance(line, Mapping) and _is_number(line.get("quantity"))
    ]
    has_returned = any(q < 0 for q in quantities)
    if has_returned and any(q > 0 for q in quantities):
        raise UnknownOrderType("order mixes sold and returned lines; send them as separate orders")
    return has_returned


def _type_from_quantities(lines: object) -> str:
    return "return" if _has_returned_lines(lines) else "sale"


def _with_positive_quantity(line: object) -> object:
    if isinstance(line, Mapping) and _is_number(line.get("quantity")) and line["quantity"] < 0:
        return {**line, "quantity": -line["quantity"]}
    return line

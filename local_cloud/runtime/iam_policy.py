"""IAM's policy evaluation for one account's identity policies, for what moto does not evaluate.

moto's access control (``moto.iam.access_control``) knows one condition key (``sts:ExternalId``)
and turns any statement whose condition fails into an explicit deny, Allow statements included,
so a conditioned grant such as ``events:PutEvents`` with ``events:source`` would deny every
publisher. This evaluates a request the way IAM's documented policy logic does for identity
policies in one account: an explicit deny wins, then an allow, else the implicit deny.

Statements are already resolved (strings, not template intrinsics). Actions match without regard
to case, resources and string conditions with it; ``*`` (any run of characters) and ``?`` (one
character) are the only wildcards, in ``Action``, ``Resource``, the ``*Like`` operators and the
``Arn*`` operators (which IAM evaluates alike). Condition keys are case-insensitive; a negated
operator (``StringNotEquals``, ...) matches when the key is absent from the request. An operator
this does not know, and a policy variable (``${aws:username}``), are errors, so nothing passes by
being ignored.
"""

from __future__ import annotations

import enum
import functools
import re
from collections.abc import Iterable, Mapping
from typing import Any


class Decision(enum.Enum):
    ALLOWED = "allowed"
    IMPLICIT_DENY = "implicitly denied"
    EXPLICIT_DENY = "explicitly denied"


def listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


@functools.lru_cache(maxsize=4096)
def _wildcard(pattern: str, case_sensitive: bool) -> re.Pattern[str]:
    if "${" in pattern:
        raise NotImplementedError(f"policy variables are not evaluated locally: {pattern!r}")
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(body, 0 if case_sensitive else re.IGNORECASE | re.DOTALL)


def _matches(patterns: Iterable[str], value: str, *, case_sensitive: bool) -> bool:
    return any(
        _wildcard(str(pattern), case_sensitive).fullmatch(value) is not None for pattern in patterns
    )


def _operator_holds(operator: str, actual: str | None, wanted: list[str]) -> bool:
    if operator == "StringEquals":
        return actual is not None and actual in wanted
    if operator == "StringNotEquals":
        return actual is None or actual not in wanted
    if operator == "StringEqualsIgnoreCase":
        return actual is not None and actual.lower() in {w.lower() for w in wanted}
    if operator in ("StringLike", "ArnLike", "ArnEquals"):
        return actual is not None and _matches(wanted, actual, case_sensitive=True)
    if operator in ("StringNotLike", "ArnNotLike", "ArnNotEquals"):
        return actual is None or not _matches(wanted, actual, case_sensitive=True)
    if operator == "Bool":
        return actual is not None and actual.lower() in {w.lower() for w in wanted}
    raise NotImplementedError(f"IAM condition operator {operator} is not evaluated locally")


def condition_holds(conditions: Mapping[str, Any], context: Mapping[str, str]) -> bool:
    """Every operator and every key of a statement's ``Condition`` holds (IAM's AND); one key
    with several values holds when any of them does (IAM's OR)."""
    keys = {key.lower(): value for key, value in context.items()}
    for operator, tests in conditions.items():
        for key, expected in tests.items():
            wanted = [str(v) for v in listed(expected)]
            if any("${" in w for w in wanted):
                raise NotImplementedError(f"policy variables are not evaluated locally: {wanted}")
            if not _operator_holds(operator, keys.get(key.lower()), wanted):
                return False
    return True


def _applies(statement: Mapping[str, Any], action: str, resource: str) -> bool:
    if "Action" in statement:
        action_ok = _matches(listed(statement["Action"]), action, case_sensitive=False)
    else:
        action_ok = not _matches(listed(statement["NotAction"]), action, case_sensitive=False)
    if "Resource" in statement:
        resource_ok = _matches(listed(statement["Resource"]), resource, case_sensitive=True)
    else:
        resource_ok = not _matches(listed(statement["NotResource"]), resource, case_sensitive=True)
    return action_ok and resource_ok


def decide(
    statements: Iterable[Mapping[str, Any]],
    action: str,
    resource: str,
    context: Mapping[str, str] | None = None,
) -> Decision:
    """IAM's decision on ``action`` on ``resource`` with the request's ``context`` (condition
    keys), given the identity-policy statements of the caller."""
    decision = Decision.IMPLICIT_DENY
    for statement in statements:
        if not _applies(statement, action, resource):
            continue
        if not condition_holds(statement.get("Condition", {}), context or {}):
            continue
        if statement["Effect"] == "Deny":
            return Decision.EXPLICIT_DENY
        decision = Decision.ALLOWED
    return decision


def is_allowed(
    statements: Iterable[Mapping[str, Any]],
    action: str,
    resource: str,
    context: Mapping[str, str] | None = None,
) -> bool:
    return decide(statements, action, resource, context) is Decision.ALLOWED

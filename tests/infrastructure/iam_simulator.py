"""IAM's evaluation of a synthesised role's identity policies, for what moto does not evaluate.

moto's access control (``moto.iam.access_control``) knows one condition key (``sts:ExternalId``)
and turns any statement whose condition fails into an explicit deny, Allow statements included,
so a conditioned grant such as ``events:PutEvents`` with ``events:source`` cannot be checked on
the local cloud. This evaluates one request the way IAM's policy logic does for a single account
and identity policies only: an explicit deny wins, then an allow, else the implicit deny.
Resources are compared after resolving the template's ``Fn::Join`` / ``Ref`` of pseudo
parameters; an unknown condition operator is an error, so a test cannot pass by ignoring one.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping
from typing import Any

from aws_cdk.assertions import Template

PSEUDO = {
    "AWS::Partition": "aws",
    "AWS::Region": "us-east-1",
    "AWS::AccountId": "000000000000",
    "AWS::URLSuffix": "amazonaws.com",
}


def resolve(value: Any) -> str:
    """A template value as a string: ``Fn::Join`` and pseudo-parameter ``Ref`` resolved, any
    other ``Ref`` / ``Fn::GetAtt`` as ``<logical id>`` / ``<logical id>.<attribute>``."""
    if isinstance(value, str):
        return value
    if "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return separator.join(resolve(part) for part in parts)
    if "Ref" in value:
        return PSEUDO.get(value["Ref"], f"<{value['Ref']}>")
    if "Fn::GetAtt" in value:
        return "<{}.{}>".format(*value["Fn::GetAtt"])
    raise ValueError(f"cannot resolve {value!r}")


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _matches(patterns: Iterable[Any], value: str, *, case_sensitive: bool) -> bool:
    for pattern in patterns:
        text = resolve(pattern)
        if case_sensitive and fnmatch.fnmatchcase(value, text):
            return True
        if not case_sensitive and fnmatch.fnmatchcase(value.lower(), text.lower()):
            return True
    return False


def _condition_holds(conditions: Mapping[str, Any], context: Mapping[str, str]) -> bool:
    for operator, tests in conditions.items():
        for key, expected in tests.items():
            wanted = [resolve(v) for v in _listed(expected)]
            actual = context.get(key)
            if operator in ("StringEquals", "ArnEquals"):
                holds = actual is not None and actual in wanted
            elif operator in ("StringNotEquals", "ArnNotEquals"):
                # Absent key: a negated operator matches (IAM's documented behaviour).
                holds = actual is None or actual not in wanted
            elif operator in ("StringLike", "ArnLike"):
                holds = actual is not None and _matches(wanted, actual, case_sensitive=True)
            else:
                raise NotImplementedError(f"condition operator {operator}")
            if not holds:
                return False
    return True


def role_statements(template: Template, role_logical_id_prefix: str) -> list[dict[str, Any]]:
    """Every statement of the identity policies attached to the role whose logical id starts
    with ``role_logical_id_prefix`` (``AWS::IAM::Policy`` resources and inline policies)."""
    roles = [
        logical
        for logical in template.find_resources("AWS::IAM::Role")
        if logical.startswith(role_logical_id_prefix)
    ]
    if len(roles) != 1:
        raise LookupError(f"{len(roles)} roles match {role_logical_id_prefix!r}: {roles}")
    (role,) = roles
    statements: list[dict[str, Any]] = []
    for policy in template.find_resources("AWS::IAM::Policy").values():
        if {"Ref": role} in policy["Properties"].get("Roles", []):
            statements += _listed(policy["Properties"]["PolicyDocument"]["Statement"])
    for inline in template.find_resources("AWS::IAM::Role")[role]["Properties"].get("Policies", []):
        statements += _listed(inline["PolicyDocument"]["Statement"])
    return statements


def is_allowed(
    statements: Iterable[Mapping[str, Any]],
    action: str,
    resource: str,
    context: Mapping[str, str] | None = None,
) -> bool:
    """Whether IAM would allow ``action`` on ``resource`` with the request's ``context``
    (condition keys), given these identity-policy statements."""
    allowed = False
    for statement in statements:
        if not _matches(_listed(statement["Action"]), action, case_sensitive=False):
            continue
        if not _matches(_listed(statement["Resource"]), resource, case_sensitive=True):
            continue
        if not _condition_holds(statement.get("Condition", {}), context or {}):
            continue
        if statement["Effect"] == "Deny":
            return False
        allowed = True
    return allowed

"""A synthesised role's identity-policy statements, rendered for ``local_cloud.runtime.iam_policy``.

The local cloud evaluates the deployed policies on every call a function makes; these tests
evaluate the synthesised ones, so a grant's shape (its condition, its resource) is checked for
every role and principal, including the ones the local cloud does not run (the state machines').
Template values are rendered with ``Fn::Join`` and pseudo-parameter ``Ref`` resolved and any other
``Ref`` / ``Fn::GetAtt`` / ``Fn::ImportValue`` as ``<logical id>`` /
``<logical id>.<attribute>`` / ``<import name>``.
"""

from __future__ import annotations

from typing import Any

from aws_cdk.assertions import Template

from local_cloud.runtime.iam_policy import is_allowed, listed

__all__ = ["is_allowed", "resolve", "role_statements"]

PSEUDO = {
    "AWS::Partition": "aws",
    "AWS::Region": "us-east-1",
    "AWS::AccountId": "000000000000",
    "AWS::URLSuffix": "amazonaws.com",
}


def resolve(value: Any) -> str:
    """A template value as a string (see the module's docstring)."""
    if isinstance(value, str):
        return value
    if "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return separator.join(resolve(part) for part in parts)
    if "Ref" in value:
        return PSEUDO.get(value["Ref"], f"<{value['Ref']}>")
    if "Fn::GetAtt" in value:
        return "<{}.{}>".format(*value["Fn::GetAtt"])
    if "Fn::ImportValue" in value:
        return f"<import {resolve(value['Fn::ImportValue'])}>"
    raise ValueError(f"cannot resolve {value!r}")


def _rendered(statement: dict[str, Any]) -> dict[str, Any]:
    rendered = dict(statement)
    for key in ("Resource", "NotResource"):
        if key in statement:
            rendered[key] = [resolve(v) for v in listed(statement[key])]
    if "Condition" in statement:
        rendered["Condition"] = {
            operator: {key: [resolve(v) for v in listed(value)] for key, value in tests.items()}
            for operator, tests in statement["Condition"].items()
        }
    return rendered


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
            statements += listed(policy["Properties"]["PolicyDocument"]["Statement"])
    for inline in template.find_resources("AWS::IAM::Role")[role]["Properties"].get("Policies", []):
        statements += listed(inline["PolicyDocument"]["Statement"])
    return [_rendered(statement) for statement in statements]

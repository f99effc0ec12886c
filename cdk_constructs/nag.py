"""cdk-nag 3.x acknowledgements: one call, with the reason required."""

from __future__ import annotations

import aws_cdk as cdk
from constructs import IConstruct


def acknowledge(scope: IConstruct, rule_id: str, reason: str) -> None:
    """Acknowledge ``rule_id`` (e.g. ``AwsSolutions-SQS3`` or a granular finding such as
    ``AwsSolutions-IAM5[Resource::*]``) on ``scope`` and everything under it. A finding that
    names the account or region of an environment-agnostic stack is written as cdk-nag writes
    it (``<AWS::AccountId>``)."""
    if len(reason.strip()) < 20:
        raise ValueError(f"{rule_id}: give a real reason")
    cdk.Validations.of(scope).acknowledge(
        cdk.Acknowledgment(id=_as_written(scope, rule_id), reason=reason)
    )


def _as_written(scope: IConstruct, text: str) -> str:
    resolved = cdk.Stack.of(scope).resolve(text)
    if isinstance(resolved, str):
        return resolved
    separator, parts = resolved["Fn::Join"]
    return str(separator).join(_part(p) for p in parts)


def _part(part: object) -> str:
    """A join part as cdk-nag writes it: ``<AWS::AccountId>``, ``<Logical.Arn>``."""
    if isinstance(part, str):
        return part
    if isinstance(part, dict) and "Ref" in part:
        return f"<{part['Ref']}>"
    if isinstance(part, dict) and "Fn::GetAtt" in part:
        return "<{}.{}>".format(*part["Fn::GetAtt"])
    raise ValueError(f"cannot write {part!r} as cdk-nag does")


STATE_MACHINE_WILDCARD_REASON = (
    "Written by CDK for logging and tracing: the CloudWatch Logs vended-log-delivery actions "
    "(logs:CreateLogDelivery and the like) and X-Ray's PutTraceSegments/PutTelemetryRecords/"
    "GetSampling* support no resource-level permissions"
)

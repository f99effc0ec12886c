"""DynamoDB tables with the project's defaults, so every table is on-demand and encrypted and
says, in one line, whether it holds data worth keeping."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct

from cdk_constructs.nag import acknowledge


def data_table(
    scope: Construct,
    id: str,
    *,
    partition_key: str,
    sort_key: str | None = None,
    time_to_live_attribute: str | None = None,
    durable: bool = True,
) -> dynamodb.Table:
    """An on-demand, encrypted table with string keys. ``durable`` tables (records of business
    facts) get point-in-time recovery and are retained when the stack is deleted; the others
    (short-lived coordination state that expires anyway) are deleted with it."""
    table = dynamodb.Table(
        scope,
        id,
        partition_key=dynamodb.Attribute(name=partition_key, type=dynamodb.AttributeType.STRING),
        sort_key=dynamodb.Attribute(name=sort_key, type=dynamodb.AttributeType.STRING)
        if sort_key
        else None,
        billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
        encryption=dynamodb.TableEncryption.AWS_MANAGED,
        point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
            point_in_time_recovery_enabled=durable
        ),
        time_to_live_attribute=time_to_live_attribute,
        removal_policy=RemovalPolicy.RETAIN if durable else RemovalPolicy.DESTROY,
    )
    if not durable:
        acknowledge(
            table,
            "AwsSolutions-DDB3",
            "Coordination state that expires by TTL (the mediator's within a day; submissions "
            "within 90 days, and the durable orders table still knows every order); restoring "
            "an old copy would be wrong, so point-in-time recovery buys nothing",
        )
    return table

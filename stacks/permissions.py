"""Grants whose resources are named by configuration, so they need no cross-stack import and
their unavoidable wildcards (per-order object keys, per-order executions) can be acknowledged
by their exact cdk-nag finding."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Aws, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_

from cdk_constructs.nag import acknowledge
from loyalty.contract import CLAIM_CHECK_PREFIX

DOCUMENTS_PREFIX = CLAIM_CHECK_PREFIX


def grant_table(
    function: lambda_.Function,
    table: dynamodb.ITable,
    actions: Sequence[str],
    *,
    indexes: Sequence[str] = (),
) -> None:
    """``actions`` on ``table`` and on the ``indexes`` named, no others (``Table.grant`` adds
    every index of a table that has one, by wildcard)."""
    arn = table.table_arn
    function.add_to_role_policy(
        iam.PolicyStatement(
            actions=list(actions), resources=[arn, *(f"{arn}/index/{name}" for name in indexes)]
        )
    )


def grant_order_documents(
    function: lambda_.Function, *, bucket_name: str, actions: list[str]
) -> None:
    """``actions`` (e.g. ``s3:GetObject``) on the claim-check objects of the orders bucket."""
    objects = f"{bucket_name}/{DOCUMENTS_PREFIX}*"
    function.add_to_role_policy(
        iam.PolicyStatement(actions=actions, resources=[f"arn:{Aws.PARTITION}:s3:::{objects}"])
    )
    assert function.role is not None
    acknowledge(
        function.role,
        f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::{objects}]",
        "Claim-check documents are keyed by order reference, which is unknown in advance; the "
        "grant is limited to the orders/ prefix of the one bucket, and to the actions named",
    )


def grant_describe_order_executions(function: lambda_.Function, *, state_machine_name: str) -> None:
    """``states:DescribeExecution`` and ``states:GetExecutionHistory`` (an order's timeline) on
    the executions of the order-processing state machine."""
    stack = Stack.of(function)
    executions = f"{stack.region}:{stack.account}:execution:{state_machine_name}:*"
    function.add_to_role_policy(
        iam.PolicyStatement(
            actions=["states:DescribeExecution", "states:GetExecutionHistory"],
            resources=[f"arn:{Aws.PARTITION}:states:{executions}"],
        )
    )
    assert function.role is not None
    acknowledge(
        function.role,
        f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:{executions}]",
        "Executions are named after order references, unknown in advance; only executions of "
        "the order-processing state machine, and only reading them (DescribeExecution, "
        "GetExecutionHistory)",
    )


def grant_task_response_by_name(function: lambda_.Function, *, state_machine_name: str) -> None:
    """What ``StateMachine.grant_task_response`` grants (``states:SendTask*``, which IAM checks
    against the state machine), on the ARN built from its name: for a function the state
    machine itself invokes, where a reference to the machine would be a dependency cycle."""
    stack = Stack.of(function)
    function.add_to_role_policy(
        iam.PolicyStatement(
            actions=[
                "states:SendTaskSuccess",
                "states:SendTaskFailure",
                "states:SendTaskHeartbeat",
            ],
            resources=[
                f"arn:{Aws.PARTITION}:states:{stack.region}:{stack.account}:"
                f"stateMachine:{state_machine_name}"
            ],
        )
    )

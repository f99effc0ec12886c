"""``Resource: "*"`` only where AWS defines no resource-level permission.

cdk-nag's ``AwsSolutions-IAM5[Resource::*]`` finding is one per policy, however many statements
have the wildcard, so its acknowledgement on a role would also hide a new one. This test is the
per-statement check: every wildcard statement of every template grants only the actions that
need it (X-Ray tracing, CloudWatch Logs' vended log delivery for the state machines).
"""

from __future__ import annotations

import pytest
from aws_cdk.assertions import Template

WITHOUT_RESOURCE_LEVEL_PERMISSIONS = {
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "xray:GetSamplingRules",
    "xray:GetSamplingTargets",
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
}


@pytest.mark.parametrize("template_name", ["order_template", "vendor_template", "api_template"])
def test_every_wildcard_resource_is_for_actions_that_have_no_other(
    template_name: str, request: pytest.FixtureRequest
) -> None:
    template: Template = request.getfixturevalue(template_name)
    wildcards = 0
    for logical, policy in template.find_resources("AWS::IAM::Policy").items():
        statements = policy["Properties"]["PolicyDocument"]["Statement"]
        for statement in statements:
            resources = statement["Resource"]
            if "*" not in (resources if isinstance(resources, list) else [resources]):
                continue
            wildcards += 1
            actions = statement["Action"]
            actions = set(actions if isinstance(actions, list) else [actions])
            assert actions <= WITHOUT_RESOURCE_LEVEL_PERMISSIONS, (logical, actions)
    assert wildcards  # every function is traced: the check saw the statements it guards


def test_the_observability_stack_grants_nothing(observability_template: Template) -> None:
    assert observability_template.find_resources("AWS::IAM::Policy") == {}

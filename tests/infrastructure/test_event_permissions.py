"""Who may put which events on the default bus: each service as its own ``source`` only.

The local cloud checks the functions' calls against their deployed roles at run time
(``local_cloud.runtime.iam_enforcement``); these check every role's grants on the synthesised
policies, the state machines' too (the local cloud does not run those under their roles), with IAM's
evaluation logic: the ``events:source`` condition on every PutEvents grant is what stops one
service (or anybody holding its role) from publishing an answer another service's rule would
take as genuine.
"""

from __future__ import annotations

import pytest
from aws_cdk.assertions import Template

from loyalty.contract import Source
from tests.infrastructure.iam_simulator import is_allowed, role_statements

BUS = "arn:aws:events:us-east-1:000000000000:event-bus/default"


def _may_put(template: Template, role: str, source: str) -> bool:
    return is_allowed(
        role_statements(template, role), "events:PutEvents", BUS, {"events:source": source}
    )


def _publishers(template: Template) -> list[str]:
    """The roles with any PutEvents statement."""
    roles = []
    for logical in template.find_resources("AWS::IAM::Role"):
        statements = role_statements(template, logical)
        if any("events:PutEvents" in str(s["Action"]) for s in statements):
            roles.append(logical)
    return roles


def test_the_order_api_cannot_publish_as_the_order_process(api_template: Template) -> None:
    assert _may_put(api_template, "OrderApiServiceRole", Source.ORDER_INTAKE.value)
    assert not _may_put(api_template, "OrderApiServiceRole", Source.ORDER_PROCESS.value)
    assert not _may_put(api_template, "OrderApiServiceRole", Source.VENDOR_MEDIATOR.value)


@pytest.mark.parametrize(
    ("template_name", "source"),
    [
        ("order_template", Source.ORDER_PROCESS),
        ("vendor_template", Source.VENDOR_MEDIATOR),
        ("api_template", Source.ORDER_INTAKE),
    ],
)
def test_every_publisher_may_put_events_as_its_own_service_only(
    template_name: str, source: Source, request: pytest.FixtureRequest
) -> None:
    template: Template = request.getfixturevalue(template_name)
    publishers = _publishers(template)
    assert publishers
    for role in publishers:
        assert _may_put(template, role, source.value), role
        for other in [*(s.value for s in Source if s is not source), "anyone"]:
            assert not _may_put(template, role, other), (role, other)


def test_the_state_machine_cannot_put_events_as_anyone_else_despite_cdks_own_grant(
    order_template: Template,
) -> None:
    statements = role_statements(order_template, "OrderProcessingStateMachineRole")
    # CDK's EventBridgePutEvents task adds an allow without a condition...
    unconditioned = [
        s
        for s in statements
        if s["Effect"] == "Allow"
        and "events:PutEvents" in str(s["Action"])
        and "Condition" not in s
    ]
    assert unconditioned
    assert is_allowed(unconditioned, "events:PutEvents", BUS, {"events:source": "anyone"})
    # ...which the bus's deny binds.
    assert not _may_put(order_template, "OrderProcessingStateMachineRole", "anyone")
    assert _may_put(order_template, "OrderProcessingStateMachineRole", Source.ORDER_PROCESS.value)

"""A second copy in the same account (``loyalty:resourcePrefix``) is isolated: its own stacks and
names, and, on the shared default bus, its own sources, so neither copy's rules take the other's
events (which would start each other's orders and call the vendor twice)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk.assertions import Template

from app import build_app, stack_name
from loyalty.contract import Source, source_of, sources_of
from stacks.config import ConfigError
from tests.infrastructure.iam_simulator import is_allowed, role_statements

BUS = "arn:aws:events:us-east-1:000000000000:event-bus/default"
NAME_PROPERTIES = {
    "AWS::Logs::LogGroup": "LogGroupName",
    "AWS::StepFunctions::StateMachine": "StateMachineName",
    "AWS::S3::Bucket": "BucketName",
    "AWS::Events::Archive": "ArchiveName",
    "AWS::CloudWatch::Dashboard": "DashboardName",
    "AWS::ApiGateway::RestApi": "Name",
}


def _copy(prefix: str) -> dict[str, Template]:
    app = build_app({"loyalty:resourcePrefix": prefix})
    return {
        stack.stack_name: Template.from_stack(stack)  # type: ignore[arg-type]
        for stack in app.node.children
        if hasattr(stack, "stack_name")
    }


@pytest.fixture(scope="module")
def copies() -> dict[str, dict[str, Template]]:
    return {prefix: _copy(prefix) for prefix in ("loyalty", "loyalty-b")}


def _rule_sources(templates: dict[str, Template]) -> list[list[str]]:
    """The ``source`` filter of every rule (an empty list for a rule without one)."""
    return [
        rule["Properties"]["EventPattern"].get("source", [])
        for template in templates.values()
        for rule in template.find_resources("AWS::Events::Rule").values()
    ]


def _publishable(templates: dict[str, Template], candidates: list[str]) -> set[str]:
    """The candidate sources any role of the copy may put events with (IAM's evaluation)."""
    found = set()
    for template in templates.values():
        for role in template.find_resources("AWS::IAM::Role"):
            statements = role_statements(template, role)
            for source in candidates:
                if is_allowed(statements, "events:PutEvents", BUS, {"events:source": source}):
                    found.add(source)
    return found


def test_the_default_copy_keeps_seed_000s_sources() -> None:
    assert sources_of() == [source.value for source in Source]
    assert source_of(Source.ORDER_PROCESS, "loyalty-b") == "service-loyalty-b-order-process"


def test_each_copy_has_stacks_of_its_own(copies: dict[str, dict[str, Template]]) -> None:
    assert sorted(copies["loyalty"]) == [
        "LoyaltyObservability",
        "LoyaltyOrderApi",
        "LoyaltyOrderProcessing",
        "LoyaltyVendorMediator",
    ]
    assert sorted(copies["loyalty-b"]) == [
        "Loyalty-BObservability",
        "Loyalty-BOrderApi",
        "Loyalty-BOrderProcessing",
        "Loyalty-BVendorMediator",
    ]


def test_no_fixed_name_is_shared(copies: dict[str, dict[str, Template]]) -> None:
    def names(templates: dict[str, Template]) -> set[str]:
        found = set()
        for template in templates.values():
            for kind, prop in NAME_PROPERTIES.items():
                for resource in template.find_resources(kind).values():
                    if prop in resource["Properties"]:
                        found.add(json.dumps(resource["Properties"][prop], sort_keys=True))
        return found

    first, second = names(copies["loyalty"]), names(copies["loyalty-b"])
    assert len(first) >= 6 and len(second) == len(first)
    assert first.isdisjoint(second)


@pytest.mark.parametrize(("ours", "theirs"), [("loyalty", "loyalty-b"), ("loyalty-b", "loyalty")])
def test_no_rule_of_one_copy_takes_an_event_the_other_may_put(
    copies: dict[str, dict[str, Template]], ours: str, theirs: str
) -> None:
    every_source = sources_of(ours) + sources_of(theirs)
    # What the other copy's principals may publish: their own sources, never ours...
    theirs_may_put = _publishable(copies[theirs], every_source)
    assert theirs_may_put == set(sources_of(theirs))
    # ...and every rule of ours takes our sources only.
    rules: list[Any] = _rule_sources(copies[ours])
    assert rules and all(rule for rule in rules), "a rule without a source filter"
    for sources in rules:
        assert set(sources) <= set(sources_of(ours))
        assert theirs_may_put.isdisjoint(sources)


@pytest.mark.parametrize("prefix", ["loyalty-", "loyalty--b", "-loyalty", "Loyalty", "l"])
def test_a_prefix_that_could_name_another_copys_stacks_is_refused(prefix: str) -> None:
    # "loyalty-" would give LoyaltyOrderProcessing (the default copy's stack), "loyalty--b"
    # the stacks of "loyalty-b".
    with pytest.raises(ConfigError, match="loyalty:resourcePrefix"):
        build_app({"loyalty:resourcePrefix": prefix})


def test_distinct_prefixes_give_distinct_stack_names() -> None:
    prefixes = ["loyalty", "loyalty-b", "loyaltyb", "loyalty-b2", "loyal-tyb", "shop-loyalty"]
    names = {stack_name(prefix, "LoyaltyOrderProcessing") for prefix in prefixes}
    assert len(names) == len(prefixes)
    assert stack_name("loyalty", "LoyaltyOrderProcessing") == "LoyaltyOrderProcessing"

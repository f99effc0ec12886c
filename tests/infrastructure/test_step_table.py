"""The contract's table of order steps (``ORDER_STEPS``) is what is deployed and documented:
every step has its worker's function, a rule that feeds it (an invoked step excepted: the state
machine invokes its function with the token, which never travels on the bus), a handler module
that exists, the state its entry names putting the result where the entry says, exactly the
table permissions the entry names, and its row in docs/events.md."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Template

from loyalty.contract import ORDER_STEPS, OrderStep
from loyalty.order_status import ACTION_SORT_KEY, SORT_KEY
from tests.infrastructure.asl import all_states, definition

EVENTS_DOC = Path(__file__).resolve().parents[2] / "docs" / "events.md"


def functions_by_handler(template: Template) -> dict[str, str]:
    return {
        resource["Properties"]["Handler"]: logical_id
        for logical_id, resource in template.find_resources("AWS::Lambda::Function").items()
    }


def rule_targets(template: Template) -> dict[str, set[str]]:
    """Detail type -> the logical ids of the functions the rules matching it target."""
    found: dict[str, set[str]] = {}
    for resource in template.find_resources("AWS::Events::Rule").values():
        props = resource["Properties"]
        pattern = props.get("EventPattern", {})
        if isinstance(pattern, str):
            pattern = json.loads(pattern)
        for detail_type in pattern.get("detail-type", []):
            for target in props.get("Targets", []):
                arn: Any = target["Arn"]
                if isinstance(arn, dict) and "Fn::GetAtt" in arn:
                    found.setdefault(detail_type, set()).add(arn["Fn::GetAtt"][0])
    return found


def table_with_sort_key(template: Template, sort_key: str) -> str:
    (logical_id,) = [
        logical_id
        for logical_id, table in template.find_resources("AWS::DynamoDB::Table").items()
        if {"AttributeName": sort_key, "KeyType": "RANGE"} in table["Properties"]["KeySchema"]
    ]
    return logical_id


def granted_actions(template: Template, function: str) -> dict[str, set[str]]:
    """Each resource a function's role may act on (a table's logical id, or the text of an ARN
    built from names) -> the actions."""
    role = template.find_resources("AWS::Lambda::Function")[function]["Properties"]["Role"]
    role_ref = {"Ref": role["Fn::GetAtt"][0]}
    granted: dict[str, set[str]] = {}
    for policy in template.find_resources("AWS::IAM::Policy").values():
        if role_ref not in policy["Properties"]["Roles"]:
            continue
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            actions = statement["Action"]
            resources = statement["Resource"]
            for resource in resources if isinstance(resources, list) else [resources]:
                if isinstance(resource, dict) and "Fn::GetAtt" in resource:
                    key = resource["Fn::GetAtt"][0]
                else:
                    key = json.dumps(resource)
                granted.setdefault(key, set()).update(
                    actions if isinstance(actions, list) else [actions]
                )
    return granted


def test_every_step_is_in_the_table_under_its_own_name() -> None:
    assert set(ORDER_STEPS) == set(OrderStep)
    assert all(spec.step is step for step, spec in ORDER_STEPS.items())


def test_every_step_has_its_function_and_handler_module(order_template: Template) -> None:
    deployed = functions_by_handler(order_template)
    for spec in ORDER_STEPS.values():
        assert spec.handler in deployed, spec.step
        module = spec.handler.rsplit(".", 1)[0]
        assert importlib.util.find_spec(module) is not None, module


def test_every_step_but_an_invoked_one_has_a_rule_feeding_its_worker(
    order_template: Template,
) -> None:
    deployed = functions_by_handler(order_template)
    targets = rule_targets(order_template)
    for spec in ORDER_STEPS.values():
        function = deployed[spec.handler]
        if spec.invoked:
            assert spec.step.value not in targets  # no event carries its token
        else:
            assert function in targets.get(spec.step.value, set()), spec.step


def test_every_step_is_the_state_its_entry_names_and_its_result_goes_where_it_says(
    order_template: Template,
) -> None:
    states = dict(all_states(definition(order_template, "STANDARD")["States"]))
    for spec in ORDER_STEPS.values():
        state = states[spec.construct_id]
        assert state.get("ResultPath") == spec.result_path, spec.step
        if spec.invoked:
            assert state["Resource"].endswith(":states:::lambda:invoke.waitForTaskToken")
        else:
            (entry,) = state["Parameters"]["Entries"]
            assert entry["DetailType"] == spec.step.value


@pytest.mark.parametrize("step", list(OrderStep))
def test_every_worker_may_do_exactly_what_its_entry_names_to_the_tables_and_documents(
    order_template: Template, step: OrderStep
) -> None:
    spec = ORDER_STEPS[step]
    granted = granted_actions(order_template, functions_by_handler(order_template)[spec.handler])
    orders_table = table_with_sort_key(order_template, SORT_KEY)
    actions_table = table_with_sort_key(order_template, ACTION_SORT_KEY)
    assert granted.get(orders_table, set()) == set(spec.orders_table)
    assert granted.get(actions_table, set()) == set(spec.actions_table)
    (documents,) = [actions for actions in granted.values() if "s3:GetObject" in actions]
    assert ("s3:PutObject" in documents) == spec.writes_documents


def test_docs_list_each_step_with_its_worker() -> None:
    text = EVENTS_DOC.read_text()
    section = text.split("## Order steps", 1)[1].split("\n## ", 1)[0]
    rows = dict(re.findall(r"^\| `(order\.[a-z-]+)` \| (\w+)", section, flags=re.M))
    assert rows == {step.value: spec.module for step, spec in ORDER_STEPS.items()}
    for spec in ORDER_STEPS.values():
        (row,) = re.findall(rf"^\| `{re.escape(spec.step.value)}` \|.*$", section, flags=re.M)
        assert ("**not an event**" in row) == spec.invoked, spec.step

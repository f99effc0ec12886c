"""The contract's table of order steps (``STEP_WORKERS``) is what is deployed and documented:
every step has its worker's function, a rule that feeds it (the approval step excepted: the
state machine invokes its function with the token, which never travels on the bus), a handler
module that exists, and its row in docs/events.md."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path
from typing import Any

from aws_cdk.assertions import Template

from loyalty.contract import STEP_WORKERS, OrderStep, step_handler

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


def test_every_step_is_in_the_table() -> None:
    assert set(STEP_WORKERS) == set(OrderStep)


def test_every_step_has_its_function_and_handler_module(order_template: Template) -> None:
    deployed = functions_by_handler(order_template)
    for step in OrderStep:
        assert step_handler(step) in deployed, step
        module = step_handler(step).rsplit(".", 1)[0]
        assert importlib.util.find_spec(module) is not None, module


def test_every_step_but_the_approval_has_a_rule_feeding_its_worker(
    order_template: Template,
) -> None:
    deployed = functions_by_handler(order_template)
    targets = rule_targets(order_template)
    for step in OrderStep:
        function = deployed[step_handler(step)]
        if step is OrderStep.AWAIT_APPROVAL:
            assert step.value not in targets  # no event carries its token
        else:
            assert function in targets.get(step.value, set()), step


def test_docs_list_each_step_with_its_worker() -> None:
    text = EVENTS_DOC.read_text()
    section = text.split("## Order steps", 1)[1].split("\n## ", 1)[0]
    rows = dict(re.findall(r"^\| `(order\.[a-z-]+)` \| (\w+)", section, flags=re.M))
    assert rows == {step.value: module for step, module in STEP_WORKERS.items()}

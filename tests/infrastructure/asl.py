"""Reading a synthesised state machine definition (a Fn::Join of strings and tokens)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from aws_cdk.assertions import Template


def definition(template: Template, machine_type: str) -> dict[str, Any]:
    """The ASL of the template's one state machine of ``machine_type``, tokens as placeholders."""
    machines = template.find_resources(
        "AWS::StepFunctions::StateMachine", {"Properties": {"StateMachineType": machine_type}}
    )
    assert len(machines) == 1, f"expected one {machine_type} state machine"
    (machine,) = machines.values()
    parts = machine["Properties"]["DefinitionString"]["Fn::Join"][1]
    text = "".join(p if isinstance(p, str) else "TOKEN" for p in parts)
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def all_states(states: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every state, through Parallel branches and Map processors."""
    for name, state in states.items():
        yield name, state
        for branch in state.get("Branches", []):
            yield from all_states(branch["States"])
        for key in ("Iterator", "ItemProcessor"):
            if key in state:
                yield from all_states(state[key]["States"])


def happy_path(states: dict[str, Any], start: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every state an execution can reach without a Catch (what an order that goes well runs),
    through Choices, Parallel branches and Map processors."""
    seen: set[str] = set()
    pending = [start]
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        state = states[name]
        yield name, state
        pending += [c["Next"] for c in state.get("Choices", [])]
        pending += [state[k] for k in ("Next", "Default") if k in state]
        for branch in state.get("Branches", []):
            yield from happy_path(branch["States"], branch["StartAt"])
        for key in ("Iterator", "ItemProcessor"):
            if key in state:
                yield from happy_path(state[key]["States"], state[key]["StartAt"])

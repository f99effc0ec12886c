"""Every function the stacks deploy imports with the environment the stack gives it: each
variable its settings model requires is set (defaults live only in ``stacks/config.py``, so a
variable the stack forgot would stop the function at its first event, not here)."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk.assertions import Template

from loyalty.contract import Env
from loyalty.settings import ConfigurationError
from tests.handlers.conftest import cold_import


def deployed_functions(*templates: Template) -> dict[str, dict[str, Any]]:
    """Handler module -> the environment variables the template gives its function."""
    found: dict[str, dict[str, Any]] = {}
    for template in templates:
        for resource in template.find_resources("AWS::Lambda::Function").values():
            props = resource["Properties"]
            module = props["Handler"].rsplit(".", 1)[0]
            found[module] = props.get("Environment", {}).get("Variables", {})
    return found


def cold_start(module: str, variables: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """Import ``module`` afresh with exactly the contract's variables the template sets."""
    for name in Env:
        monkeypatch.delenv(name.value, raising=False)
    for name, value in variables.items():
        # A resource's name or ARN is a token in the template: any value stands for it here.
        monkeypatch.setenv(name, value if isinstance(value, str) else f"deployed-{name.lower()}")
    cold_import(module)


def test_every_deployed_handler_imports_with_its_deployed_environment(
    aws: None,
    monkeypatch: pytest.MonkeyPatch,
    order_template: Template,
    vendor_template: Template,
    api_template: Template,
) -> None:
    functions = deployed_functions(order_template, vendor_template, api_template)
    assert len(functions) >= 10
    failures: dict[str, str] = {}
    for module, variables in sorted(functions.items()):
        try:
            cold_start(module, variables, monkeypatch)
        except ConfigurationError as err:
            failures[module] = str(err)
    assert failures == {}


def test_a_variable_the_stack_did_not_set_is_named(
    aws: None, monkeypatch: pytest.MonkeyPatch, order_template: Template
) -> None:
    variables = dict(deployed_functions(order_template)["order_steps.transform"])
    del variables[Env.POINTS_PER_CURRENCY_UNIT.value]
    with pytest.raises(ConfigurationError, match="not set: POINTS_PER_CURRENCY_UNIT"):
        cold_start("order_steps.transform", variables, monkeypatch)

"""The gateway's request models are the function's pydantic models: every body one accepts, the
other accepts, so a body is never refused at the gateway that the function would take (or let
through with a message the function would not give)."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk.assertions import Template
from jsonschema import Draft4Validator
from order_api.bodies import Decision, OperatorAction
from pydantic import BaseModel, ValidationError

from cdk_constructs.json_schema import UnsupportedSchemaError, request_model_schema

BODIES: list[Any] = [
    {},
    {"decision": "approve"},
    {"decision": "reject", "comment": "too much"},
    {"decision": "approve", "comment": None},
    {"decision": "maybe"},
    {"decision": "approve", "comment": "x" * 500},
    {"decision": "approve", "comment": "x" * 501},
    {"decision": "approve", "extra": 1},
    {"decision": 1},
    {"comment": "why"},
    {"comment": 5},
    [],
    "approve",
]


def gateway_schema(template: Template, name: str) -> dict[str, Any]:
    (model,) = [
        resource["Properties"]["Schema"]
        for resource in template.find_resources("AWS::ApiGateway::Model").values()
        if resource["Properties"].get("Name") == name
        or resource["Properties"]["Schema"].get("title") == name
    ]
    return model  # type: ignore[no-any-return]


def accepted_by_model(model: type[BaseModel], body: Any) -> bool:
    try:
        model.model_validate(body)
    except ValidationError:
        return False
    return True


@pytest.mark.parametrize("model", [Decision, OperatorAction])
def test_the_gateway_and_the_function_accept_the_same_bodies(
    api_template: Template, model: type[BaseModel]
) -> None:
    gateway = Draft4Validator(gateway_schema(api_template, model.__name__))
    verdicts = {
        repr(body): (gateway.is_valid(body), accepted_by_model(model, body)) for body in BODIES
    }
    assert {b: v for b, v in verdicts.items() if v[0] != v[1]} == {}
    assert any(a for a, _ in verdicts.values()) and not all(a for a, _ in verdicts.values())


def test_a_model_the_gateway_cannot_express_stops_the_synth() -> None:
    class Nested(BaseModel):
        inner: Decision

    class Ranged(BaseModel):
        count: int = 0
        tags: list[str] = []
        ratio: float = 0.0

        model_config = {"json_schema_extra": {"patternProperties": {"^x": {}}}}

    with pytest.raises(UnsupportedSchemaError, match=r"\$defs"):
        request_model_schema(Nested)
    with pytest.raises(UnsupportedSchemaError, match="patternProperties"):
        request_model_schema(Ranged)


def test_a_translated_model_synthesises_as_draft_4() -> None:
    stack = Stack(App(), "S")
    api = apigw.RestApi(stack, "Api")
    api.root.add_method("GET")
    api.add_model(
        "Decision", content_type="application/json", schema=request_model_schema(Decision)
    )
    schema = gateway_schema(Template.from_stack(stack), "Decision")
    assert schema["$schema"] == "http://json-schema.org/draft-04/schema#"
    assert schema["properties"]["comment"]["anyOf"] == [
        {"type": "string", "maxLength": 500},
        {"type": "null"},
    ]

"""A pydantic model's JSON schema as an API Gateway request model (JSON Schema draft 4), so the
gateway checks a body with the rules the function validates it with. Only what draft 4 and API
Gateway express is translated; any other keyword stops the synth, naming it, rather than being
dropped (the gateway would then let through what the model refuses, or the reverse)."""

from __future__ import annotations

from typing import Any

from aws_cdk import aws_apigateway as apigw
from pydantic import BaseModel

_TYPES = {
    "object": apigw.JsonSchemaType.OBJECT,
    "array": apigw.JsonSchemaType.ARRAY,
    "string": apigw.JsonSchemaType.STRING,
    "integer": apigw.JsonSchemaType.INTEGER,
    "number": apigw.JsonSchemaType.NUMBER,
    "boolean": apigw.JsonSchemaType.BOOLEAN,
    "null": apigw.JsonSchemaType.NULL,
}
_SAME = {
    "title": "title",
    "description": "description",
    "enum": "enum",
    "pattern": "pattern",
    "maxLength": "max_length",
    "minLength": "min_length",
    "maxItems": "max_items",
    "minItems": "min_items",
    "minimum": "minimum",
    "maximum": "maximum",
    "required": "required",
}
# Annotations that change no validation: left out of the gateway's model.
_IGNORED = {"default", "examples"}


class UnsupportedSchemaError(ValueError):
    pass


def request_model_schema(model: type[BaseModel]) -> apigw.JsonSchema:
    """``model``'s validation schema, for ``RestApi.add_model``."""
    schema = model.model_json_schema()
    if "$defs" in schema:
        raise UnsupportedSchemaError(
            f"{model.__name__} nests models ($defs): API Gateway models cannot refer to them"
        )
    return _draft4(schema, model.__name__, top=True)


def _draft4(schema: dict[str, Any], where: str, *, top: bool = False) -> apigw.JsonSchema:
    options: dict[str, Any] = {"schema": apigw.JsonSchemaVersion.DRAFT4} if top else {}
    for key, value in schema.items():
        if key in _IGNORED or (key == "title" and not top):
            continue
        if key in _SAME:
            options[_SAME[key]] = value
        elif key == "type":
            options["type"] = _TYPES[value]
        elif key == "properties":
            options["properties"] = {
                name: _draft4(sub, f"{where}.{name}") for name, sub in value.items()
            }
        elif key == "additionalProperties" and isinstance(value, bool):
            options["additional_properties"] = value
        elif key == "items":
            options["items"] = _draft4(value, f"{where}[]")
        elif key == "anyOf":
            options["any_of"] = [_draft4(sub, where) for sub in value]
        elif key == "const":
            options["enum"] = [value]
        else:
            raise UnsupportedSchemaError(f"{where}: {key!r} has no API Gateway model equivalent")
    return apigw.JsonSchema(**options)

"""The Order API's answers and what every route reads from its request (the body, the caller,
the URL of a resource), free of any state: each route module uses them with its own event."""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any, cast

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.shared.json_encoder import Encoder
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent

from loyalty.domain.errors import FieldProblem


def json_line(body: Any) -> str:
    """An answer's body: compact JSON (Powertools' own serializer) ending with a newline, so a
    curl in a terminal does not run the next prompt into it."""
    return json.dumps(body, separators=(",", ":"), cls=Encoder) + "\n"


class ApiError(Exception):
    def __init__(
        self, status: HTTPStatus, message: str, details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.details = details or {}


def respond(
    status: HTTPStatus, body: dict[str, Any], headers: dict[str, str] | None = None
) -> Response:
    return Response(
        status_code=status.value,
        content_type=content_types.APPLICATION_JSON,
        body=body,
        headers=headers,
    )


def invalid(problems: list[FieldProblem]) -> Response:
    return respond(
        HTTPStatus.BAD_REQUEST,
        {
            "message": "the request body is invalid",
            "errors": [{"field": p.field, "message": p.message} for p in problems],
        },
    )


def json_body(event: APIGatewayProxyEvent) -> Any:
    try:
        return event.json_body
    except ValueError as err:
        raise ApiError(HTTPStatus.BAD_REQUEST, "the request body must be JSON") from err


def caller(event: APIGatewayProxyEvent) -> str:
    """Who is calling: the IAM principal, or the Cognito user when that authorizer is used."""
    context = event.request_context
    claims = (context.authorizer.claims or {}) if context.authorizer else {}
    return str(
        claims.get("email")
        or claims.get("sub")
        or context.identity.user_arn
        or context.identity.caller
        or "anonymous"
    )


def url(event: APIGatewayProxyEvent, path: str) -> str:
    context = event.request_context
    if context.domain_name:
        scheme = event.headers.get("X-Forwarded-Proto", "https")
        return f"{scheme}://{context.domain_name}/{context.stage}{path}"
    return path


def query(event: APIGatewayProxyEvent, name: str) -> str | None:
    return (event.query_string_parameters or {}).get(name)


def current(router: Router) -> APIGatewayProxyEvent:
    """The request a route of ``router`` is answering (a REST API's proxy event)."""
    return cast(APIGatewayProxyEvent, router.current_event)

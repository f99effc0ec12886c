"""The local API Gateway's routing and HTTP surface, on a hand-built REST API whose one function
echoes the event it gets: resources matched as API Gateway matches them (werkzeug's router),
exact paths only, the headers as the client spelled them, and nothing written to stderr."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any, cast
from urllib.parse import urlsplit

import pytest

from local_cloud.runtime.api_gateway import LocalApiServer, LocalRestApi
from local_cloud.runtime.lambda_runtime import LocalFunction

pytestmark = pytest.mark.timeout(30)

FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:echo"
URI = f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{FUNCTION_ARN}/invocations"
MISSING_TOKEN = {"message": "Missing Authentication Token"}


class Echo:
    """A function that answers with what API Gateway told it."""

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        told = {k: event[k] for k in ("resource", "path", "httpMethod", "pathParameters")}
        return {
            "statusCode": 200,
            "headers": {"Content-Type": "application/json"},
            "body": json.dumps({**told, "headers": event["headers"]}),
        }


@pytest.fixture(scope="module")
def gateway() -> Iterator[LocalApiServer]:
    api = LocalRestApi(api_id="api1", name="orders", root_id="root", stage="v1")
    api.resources = {
        "orders": ("root", "orders"),
        "order": ("orders", "{reference}"),
        "actions": ("order", "actions"),
        "approval": ("actions", "approval"),
        "action": ("actions", "{action}"),
    }
    api.methods = [
        (resource, method, {"Integration": {"Uri": URI}})
        for resource, method in [
            ("orders", "POST"),
            ("order", "GET"),
            ("approval", "POST"),
            ("action", "POST"),
        ]
    ]
    functions = {FUNCTION_ARN: cast(LocalFunction, Echo())}
    server = LocalApiServer(api=api, functions=functions, region="us-east-1", account_id="1")
    server.start()
    yield server
    server.stop()


def send(gateway: LocalApiServer, request_line: str, *headers: str) -> tuple[str, dict[str, Any]]:
    """The status line and JSON body of a request sent as written (no client tidies it up)."""
    lines = [
        request_line,
        "Host: local",
        "Connection: close",
        *headers,
        "Content-Length: 0",
        "",
        "",
    ]
    status, body = exchange(gateway, "\r\n".join(lines).encode())
    return status, json.loads(body) if body else {}


def exchange(gateway: LocalApiServer, request: bytes) -> tuple[str, bytes]:
    """The status line and body of the answer to ``request``, sent byte for byte."""
    address = urlsplit(gateway.url)
    with socket.create_connection((address.hostname, address.port), timeout=5) as connection:
        connection.sendall(request)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    return head.split(b"\r\n")[0].decode(), body


@pytest.mark.parametrize(
    ("method", "path", "resource", "parameters"),
    [
        ("GET", "/orders/R-1", "/orders/{reference}", {"reference": "R-1"}),
        # A literal part wins over a {variable}; the variable takes what the literal does not.
        (
            "POST",
            "/orders/R-1/actions/approval",
            "/orders/{reference}/actions/approval",
            {"reference": "R-1"},
        ),
        (
            "POST",
            "/orders/R-1/actions/retry",
            "/orders/{reference}/actions/{action}",
            {"reference": "R-1", "action": "retry"},
        ),
        # An escaped "/" stays inside its parameter, escaped, as matched.
        ("GET", "/orders/A%2FB", "/orders/{reference}", {"reference": "A%2FB"}),
    ],
)
def test_the_most_specific_resource_takes_the_request(
    gateway: LocalApiServer, method: str, path: str, resource: str, parameters: dict[str, str]
) -> None:
    status, told = send(gateway, f"{method} /v1{path}?limit=2 HTTP/1.1")

    assert status == "HTTP/1.1 200 OK"
    assert told == {
        **told,
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "pathParameters": parameters,
    }


@pytest.mark.parametrize(
    "request_line",
    [
        "GET /v1//orders/R-1 HTTP/1.1",  # werkzeug's router alone would read "//" as "/"
        "GET /v1/orders//R-1 HTTP/1.1",
        "GET /v1/orders/R-1/ HTTP/1.1",  # no slash added or removed
        "GET /v1/orders HTTP/1.1",  # a resource without that method
        "GET /v1 HTTP/1.1",  # the stage alone
        "GET /orders/R-1 HTTP/1.1",  # no stage
    ],
)
def test_anything_but_an_exact_path_and_method_is_missing_authentication_token(
    gateway: LocalApiServer, request_line: str
) -> None:
    assert send(gateway, request_line) == ("HTTP/1.1 403 Forbidden", MISSING_TOKEN)


@pytest.mark.parametrize("method", ["HEAD", "get"])
def test_a_method_the_gateway_never_serves_is_501(gateway: LocalApiServer, method: str) -> None:
    # werkzeug's rules take HEAD wherever they take GET, and its Request upper-cases a method;
    # the gateway answers both as it always did.
    status, _ = exchange(
        gateway, f"{method} /v1/orders/R-1 HTTP/1.1\r\nConnection: close\r\n\r\n".encode()
    )
    assert status == f"HTTP/1.1 501 Unsupported method ('{method}')"


def test_the_function_gets_the_headers_as_the_client_spelled_them(
    gateway: LocalApiServer,
) -> None:
    _, told = send(gateway, "GET /v1/orders/R-1 HTTP/1.1", "x-amz-Date: 1", "X_Under: 2")

    # WSGI alone would give HTTP_X_AMZ_DATE (X-Amz-Date) and drop X_Under.
    assert {k: v for k, v in told["headers"].items() if k.lower() in ("x-amz-date", "x_under")} == {
        "x-amz-Date": "1",
        "X_Under": "2",
    }


def test_requests_are_not_logged_to_stderr(
    gateway: LocalApiServer, capfd: pytest.CaptureFixture[str]
) -> None:
    send(gateway, "GET /v1/orders/R-1 HTTP/1.1")
    send(gateway, "GET /v1/nothing HTTP/1.1")
    exchange(gateway, b"NONSENSE\r\n\r\n")

    assert capfd.readouterr().err == ""

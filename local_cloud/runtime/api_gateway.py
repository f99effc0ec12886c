"""API Gateway REST APIs, locally: the synthesised routes served on 127.0.0.1.

moto's API Gateway cannot invoke Lambda without Docker, so the deployer records each REST API's
resources, methods, models and request validators from the template, and ``LocalApiServer``
serves them: it checks a method's required query string parameters and headers (present and not
blank, as API Gateway does; ``400 Missing required request parameters: [...]``), validates its
JSON body against its model (JSON Schema draft 4, as API Gateway does), answers a failed
validation with the template's ``BAD_REQUEST_BODY`` gateway response, and otherwise invokes the
integration's function with an API Gateway proxy event (REST, payload 1.0). A method with IAM
authorization (``AWS_IAM``, the stack's default) takes only requests signed (SigV4) by a key of
moto's IAM whose user may ``execute-api:Invoke`` it, and its ``requestContext.identity`` is the
signer (`local_cloud.runtime.iam_auth`); Cognito authorizers are not emulated. Unknown routes get
API Gateway's ``403 Missing Authentication Token``. It is a WSGI app on werkzeug's threaded server,
its resources matched by werkzeug's router.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from jsonschema import Draft4Validator
from werkzeug.exceptions import ClientDisconnected, MethodNotAllowed, NotFound
from werkzeug.routing import Map, RequestRedirect, Rule
from werkzeug.wrappers import Request

from local_cloud.runtime.http_serving import RAW_HEADERS, LocalHTTPServer, response
from local_cloud.runtime.iam_auth import Refused, authorize
from local_cloud.runtime.lambda_runtime import LocalFunction

LOG = logging.getLogger(__name__)
SOURCE_IP = "127.0.0.1"


@dataclass
class LocalMethod:
    resource_path: str
    http_method: str
    function_arn: str
    validate_body: bool = False
    body_schema: dict[str, Any] | None = None
    required_query: tuple[str, ...] = ()
    required_headers: tuple[str, ...] = ()
    """Checked when the method's validator validates request parameters."""
    authorization_type: str = "NONE"
    """``AWS_IAM``: SigV4-signed by a key moto's IAM knows (`local_cloud.runtime.iam_auth`)."""


@dataclass
class LocalRestApi:
    api_id: str
    name: str
    root_id: str
    resources: dict[str, tuple[str | None, str]] = field(default_factory=dict)
    """resource id → (parent id, path part)"""
    methods: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    """(resource id, HTTP method, resolved properties)"""
    models: dict[str, dict[str, Any]] = field(default_factory=dict)
    validators: dict[str, dict[str, Any]] = field(default_factory=dict)
    gateway_responses: dict[str, dict[str, Any]] = field(default_factory=dict)
    stage: str = "prod"

    def path_of(self, resource_id: str) -> str:
        if resource_id == self.root_id:
            return "/"
        parent, part = self.resources[resource_id]
        prefix = self.path_of(parent) if parent else "/"
        return prefix.rstrip("/") + "/" + part

    def routes(self) -> list[LocalMethod]:
        found = []
        for resource_id, http_method, props in self.methods:
            uri = str(props.get("Integration", {}).get("Uri", ""))
            match = re.search(r"functions/(.+)/invocations", uri)
            if not match:
                raise ValueError(f"{http_method} {self.path_of(resource_id)}: not a Lambda proxy")
            validator = self.validators.get(str(props.get("RequestValidatorId", "")), {})
            model = props.get("RequestModels", {}).get("application/json")
            required = (
                [name for name, needed in props.get("RequestParameters", {}).items() if needed]
                if validator.get("ValidateRequestParameters")
                else []
            )
            found.append(
                LocalMethod(
                    resource_path=self.path_of(resource_id),
                    http_method=http_method,
                    function_arn=match.group(1),
                    validate_body=bool(validator.get("ValidateRequestBody")),
                    body_schema=self.models.get(model) if model else None,
                    required_query=_parameters(required, "method.request.querystring."),
                    required_headers=_parameters(required, "method.request.header."),
                    authorization_type=str(props.get("AuthorizationType", "NONE")),
                )
            )
        return found


def _parameters(names: list[str], prefix: str) -> tuple[str, ...]:
    return tuple(name.removeprefix(prefix) for name in names if name.startswith(prefix))


def _rule(resource_path: str) -> str:
    """werkzeug's rule for a resource path: API Gateway's ``{name}`` (one path part) is
    werkzeug's ``<name>`` (its default converter takes one part, ``[^/]+``)."""

    def variable(found: re.Match[str]) -> str:
        if not found.group(1).isidentifier():
            # Such as the greedy {proxy+}: no stack has one, so it is not emulated.
            raise ValueError(f"{resource_path}: path variable {found.group(0)} is not emulated")
        return f"<{found.group(1)}>"

    return re.sub(r"\{([^}]*)\}", variable, resource_path)


def _validation_error_string(errors: list[Any]) -> str:
    """Close to API Gateway's own wording, e.g. ``[object has missing required properties]``."""
    return "[" + ", ".join(sorted(e.message for e in errors)) + "]"


class LocalApiServer:
    def __init__(
        self,
        *,
        api: LocalRestApi,
        functions: dict[str, LocalFunction],
        region: str,
        account_id: str,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.api = api
        self._region = region
        self._account_id = account_id
        self._routes = api.routes()
        # API Gateway matches the most specific path, a literal part before a {variable}, as
        # werkzeug's router does. Exact paths only: no slash merged, added or removed.
        self._router = Map(
            [
                Rule(_rule(route.resource_path), endpoint=index, methods=[route.http_method])
                for index, route in enumerate(self._routes)
            ],
            merge_slashes=False,
        ).bind("local-api")
        self._functions = functions
        self._server = LocalHTTPServer(host, self._wsgi_app, port)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        port = self._server.server_address[1]
        return f"http://127.0.0.1:{port}/{self.api.stage}"

    def start(self) -> LocalApiServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # -- requests -------------------------------------------------------------------------------

    def _wsgi_app(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        request = Request(environ)
        try:
            body = request.get_data()
        except ClientDisconnected:
            # The client left before sending its whole body; werkzeug's server takes a
            # ConnectionError from the app for a dropped connection and answers nothing.
            raise ConnectionAbortedError("the client left before sending its body") from None
        # The request target as sent (still escaped, with its query: the client signed it) and
        # the headers as sent.
        target, headers = environ["RAW_URI"], environ[RAW_HEADERS]
        # REQUEST_METHOD as sent: werkzeug's Request.method upper-cases it, API Gateway does not.
        method = environ["REQUEST_METHOD"]
        status, headers, payload = self.handle(method, target, headers, body)
        return response(status, headers, payload)(environ, start_response)

    def handle(
        self, method: str, raw_path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        split = urlsplit(raw_path)
        prefix = f"/{self.api.stage}"
        path = split.path[len(prefix) :] if split.path.startswith(prefix + "/") else None
        matched = self._match(method, path)
        if path is None or matched is None:
            return (
                403,
                {"Content-Type": "application/json"},
                b'{"message":"Missing Authentication Token"}',
            )
        route, path_parameters = matched
        try:
            identity = self._identity(route, method, raw_path, path, headers, body)
        except Refused as refused:
            return self._gateway_error(
                refused.response_type, refused.message, refused.message, status=403
            )
        return self._invoke(route, path_parameters, path, split.query, headers, body, identity)

    def _match(self, method: str, path: str | None) -> tuple[LocalMethod, dict[str, str]] | None:
        """The method a request names and its path parameters (still escaped, as matched)."""
        if path is None or "//" in path:
            # werkzeug's router reads a leading "//" as "/"; API Gateway has no such path.
            return None
        try:
            index, values = self._router.match(path, method)
        except (NotFound, MethodNotAllowed, RequestRedirect):
            return None
        route = self._routes[index]
        if route.http_method != method:
            # werkzeug's rules take HEAD wherever they take GET; API Gateway's do not.
            return None
        return route, {name: str(value) for name, value in values.items()}

    def _identity(
        self,
        route: LocalMethod,
        method: str,
        raw_path: str,
        path: str,
        headers: dict[str, str],
        body: bytes,
    ) -> dict[str, str]:
        """``requestContext.identity``: the signing principal of an ``AWS_IAM`` method (or
        ``Refused``); only the source address otherwise."""
        if route.authorization_type != "AWS_IAM":
            return {"sourceIp": SOURCE_IP}
        host = next((v for k, v in headers.items() if k.lower() == "host"), "127.0.0.1")
        method_arn = (
            f"arn:aws:execute-api:{self._region}:{self._account_id}:{self.api.api_id}/"
            f"{self.api.stage}/{method}{path}"
        )
        caller = authorize(
            method=method,
            url=f"http://{host}{raw_path}",
            headers=headers,
            body=body,
            method_arn=method_arn,
            account_id=self._account_id,
        )
        return caller.identity(SOURCE_IP)

    def _invoke(
        self,
        route: LocalMethod,
        path_parameters: dict[str, str],
        path: str,
        query: str,
        headers: dict[str, str],
        body: bytes,
        identity: dict[str, str],
    ) -> tuple[int, dict[str, str], bytes]:
        text = body.decode() if body else None
        query_values = parse_qs(query)
        lowered = {k.lower(): v for k, v in headers.items()}
        missing = [
            *(name for name in route.required_query if not "".join(query_values.get(name, []))),
            *(name for name in route.required_headers if not lowered.get(name.lower(), "").strip()),
        ]
        if missing:
            return self._bad_request_parameters(missing)
        if route.validate_body and route.body_schema is not None:
            problem = self._invalid_body(route.body_schema, text)
            if problem is not None:
                return self._bad_request_body(problem)
        host = headers.get("Host", "127.0.0.1")
        headers = {**headers, "X-Forwarded-Proto": "http"}  # API Gateway says https
        event = {
            "resource": route.resource_path,
            "path": path,
            "httpMethod": route.http_method,
            "headers": headers,
            "multiValueHeaders": {k: [v] for k, v in headers.items()},
            "queryStringParameters": {k: v[-1] for k, v in query_values.items()} or None,
            "multiValueQueryStringParameters": query_values or None,
            "pathParameters": path_parameters or None,
            "stageVariables": None,
            "requestContext": {
                "resourcePath": route.resource_path,
                "httpMethod": route.http_method,
                "path": f"/{self.api.stage}{path}",
                "stage": self.api.stage,
                "requestId": str(uuid.uuid4()),
                "apiId": self.api.api_id,
                "domainName": host,
                "identity": identity,
            },
            "body": text,
            "isBase64Encoded": False,
        }
        function = self._functions[route.function_arn]
        try:
            response = function.invoke(event)
        except Exception:
            return (
                502,
                {"Content-Type": "application/json"},
                b'{"message": "Internal server error"}',
            )
        # API Gateway merges both forms; a header in multiValueHeaders wins (Powertools' REST
        # resolver answers with that one only).
        response_headers = {str(k): str(v) for k, v in (response.get("headers") or {}).items()}
        for key, values in (response.get("multiValueHeaders") or {}).items():
            response_headers[str(key)] = ", ".join(str(v) for v in values)
        return (
            int(response["statusCode"]),
            response_headers,
            str(response.get("body") or "").encode(),
        )

    @staticmethod
    def _invalid_body(schema: dict[str, Any], text: str | None) -> str | None:
        try:
            document = json.loads(text or "")
        except ValueError:
            return "[Invalid input: not JSON]"
        errors = list(Draft4Validator(schema).iter_errors(document))
        return _validation_error_string(errors) if errors else None

    def _bad_request_parameters(self, missing: list[str]) -> tuple[int, dict[str, str], bytes]:
        message = f"Missing required request parameters: [{', '.join(missing)}]"
        return self._gateway_error("BAD_REQUEST_PARAMETERS", message, message)

    def _bad_request_body(self, problem: str) -> tuple[int, dict[str, str], bytes]:
        return self._gateway_error("BAD_REQUEST_BODY", "Invalid request body", problem)

    def _gateway_error(
        self, response_type: str, default_message: str, error: str, status: int = 400
    ) -> tuple[int, dict[str, str], bytes]:
        """API Gateway's answer of ``response_type``: the template's gateway response, with
        ``$context.error.validationErrorString`` filled in, or the default message."""
        response = self.api.gateway_responses.get(response_type, {})
        template = response.get("ResponseTemplates", {}).get("application/json")
        if template is None:
            body = json.dumps({"message": default_message})
        else:
            body = template.replace("$context.error.validationErrorString", json.dumps(error)[1:-1])
        return (
            int(response.get("StatusCode", status)),
            {"Content-Type": "application/json"},
            body.encode(),
        )

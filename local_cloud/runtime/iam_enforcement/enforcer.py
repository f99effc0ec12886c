"""Enforcement: the role sessions of one local cloud's functions, IAM's decision on each of their
calls and the answer the service gives a refusal."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from botocore.awsrequest import AWSResponse

from local_cloud.runtime.iam_enforcement.call_mapping import (
    Lookups,
    Request,
    put_events_request,
    requests_for,
)
from local_cloud.runtime.iam_policy import Decision, decide


@dataclass(frozen=True)
class RoleSession:
    """An assumed role: who signs the calls of one function."""

    account: str
    role_name: str
    session_name: str

    @property
    def arn(self) -> str:
        return f"arn:aws:sts::{self.account}:assumed-role/{self.role_name}/{self.session_name}"

    def global_keys(self, region: str) -> dict[str, str]:
        """The global condition keys IAM puts in every request of this session."""
        return {
            "aws:PrincipalArn": f"arn:aws:iam::{self.account}:role/{self.role_name}",
            "aws:PrincipalAccount": self.account,
            "aws:PrincipalType": "AssumedRole",
            "aws:RequestedRegion": region,
            "aws:SecureTransport": "true",  # the SDK speaks HTTPS to AWS
        }


class CredentialsOfAnotherFunctionError(RuntimeError):
    """A function's call signed with another function's role credentials."""


def denial_message(session: RoleSession, request: Request, decision: Decision) -> str:
    """IAM's wording of a refusal."""
    why = (
        "with an explicit deny in an identity-based policy"
        if decision is Decision.EXPLICIT_DENY
        else f"because no identity-based policy allows the {request.action} action"
    )
    # S3 quotes the resource in its message.
    resource = f'"{request.resource}"' if request.action.startswith("s3:") else request.resource
    return (
        f"User: {session.arn} is not authorized to perform: {request.action} on resource: "
        f"{resource} {why}"
    )


# What each service calls the refusal, and the HTTP status it answers it with.
_DENIAL_CODES = {"S3": ("AccessDenied", 403), "SQS": ("AccessDenied", 403)}


class Enforcer:
    """The role sessions of one local cloud's functions, keyed by their access keys (the
    deployer adds them as it assumes the roles), the policies of each role and the lookups the
    mapping needs. ``install`` makes it the one every call is checked against."""

    def __init__(
        self,
        *,
        sessions: dict[str, RoleSession],
        statements_of: Callable[[str], list[dict[str, Any]]],
        cloud: Lookups,
        admin_put_events: Callable[[list[dict[str, Any]], str], dict[str, Any]],
        running_key: Callable[[], str | None] = lambda: None,
    ) -> None:
        self._statements_of = statements_of
        self._cloud = cloud
        self._admin_put_events = admin_put_events
        self._sessions = sessions
        self._running_key = running_key
        self._lock = threading.Lock()
        self.checked: Counter[tuple[str, str]] = Counter()
        """Authorisations made (a call may need several), by role and action."""
        self.denials: list[str] = []
        """Every refusal, in order (what CloudTrail would show as ``AccessDenied``)."""

    def session_of(self, access_key: str) -> RoleSession | None:
        return self._sessions.get(access_key)

    def take_denials(self, containing: str) -> list[str]:
        """Remove and return the refusals that mention ``containing`` (a test that provokes
        refusals takes its own, leaving any other for the suite's check)."""
        with self._lock:
            taken = [d for d in self.denials if containing in d]
            self.denials[:] = [d for d in self.denials if containing not in d]
        return taken

    def decide(self, session: RoleSession, request: Request, region: str) -> Decision:
        with self._lock:
            self.checked[session.role_name, request.action] += 1
        return decide(
            self._statements_of(session.role_name),
            request.action,
            request.resource,
            {**session.global_keys(region), **request.context},
        )

    def _denied(self, session: RoleSession, request: Request, decision: Decision) -> str:
        message = denial_message(session, request, decision)
        with self._lock:
            self.denials.append(message)
        return message

    # -- the hook -----------------------------------------------------------------------------

    def before_call(self, model: Any, params: dict[str, Any], request_signer: Any) -> Any:
        credentials = getattr(request_signer, "_credentials", None)
        if credentials is None:
            return None
        session = self.session_of(credentials.access_key)
        if session is None:
            return None
        running = self._running_key()
        if running is not None and running != credentials.access_key:
            # Impossible on AWS (each function is a process with its own credentials): a client
            # created in one function's environment and used in another's.
            raise CredentialsOfAnotherFunctionError(
                f"{model.service_model.service_id} {model.name} signed as {session.arn} "
                "from another function's environment: a client shared across functions"
            )
        service = model.service_model.service_id
        region = request_signer.region_name
        if service == "EventBridge" and model.name == "PutEvents":
            return self._put_events(session, params, region)
        requests = requests_for(
            service, model.name, params, region=region, account=session.account, cloud=self._cloud
        )
        for request in requests:
            decision = self.decide(session, request, region)
            if decision is not Decision.ALLOWED:
                message = self._denied(session, request, decision)
                if service == "S3" and model.name == "HeadObject":
                    return _error(403, "403", "Forbidden")  # a HEAD answer has no body
                code, status = _DENIAL_CODES.get(service, ("AccessDeniedException", 400))
                return _error(status, code, message)
        return None

    def _put_events_code(self, session: RoleSession, request: Request, region: str) -> str:
        """The entry's ``ErrorCode``: ``NotAuthorizedForSourceException`` when the entry would
        be allowed with another source, ``NotAuthorizedForDetailTypeException`` with another
        detail type, else ``AccessDeniedException``."""
        statements = self._statements_of(session.role_name)
        context = {**session.global_keys(region), **request.context}
        for key, code in (
            ("events:source", "NotAuthorizedForSourceException"),
            ("events:detail-type", "NotAuthorizedForDetailTypeException"),
        ):
            favourable = _favouring(statements, key)
            if decide(favourable, request.action, request.resource, context) is Decision.ALLOWED:
                return code
        return "AccessDeniedException"

    def _put_events(self, session: RoleSession, params: dict[str, Any], region: str) -> Any:
        refusals: dict[int, dict[str, str]] = {}
        for index, entry in enumerate(params["Entries"]):
            request = put_events_request(entry, region, session.account)
            decision = self.decide(session, request, region)
            if decision is not Decision.ALLOWED:
                refusals[index] = {
                    "ErrorCode": self._put_events_code(session, request, region),
                    "ErrorMessage": self._denied(session, request, decision),
                }
        if not refusals:
            return None
        allowed = [e for i, e in enumerate(params["Entries"]) if i not in refusals]
        accepted: Iterator[dict[str, Any]] = iter(
            self._admin_put_events(allowed, region)["Entries"] if allowed else []
        )
        entries = [refusals.get(i) or next(accepted) for i in range(len(params["Entries"]))]
        failed = sum(1 for e in entries if "ErrorCode" in e)
        return _response(200, {"FailedEntryCount": failed, "Entries": entries})


def _favouring(statements: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    """The statements as if the request's ``key`` satisfied every Allow and no Deny."""
    favoured = []
    for statement in statements:
        conditions = statement.get("Condition", {})
        on_key = any(k.lower() == key for tests in conditions.values() for k in tests)
        if not on_key:
            favoured.append(statement)
        elif statement["Effect"] == "Allow":
            kept = {
                operator: {k: v for k, v in tests.items() if k.lower() != key}
                for operator, tests in conditions.items()
            }
            favoured.append({**statement, "Condition": {o: t for o, t in kept.items() if t}})
    return favoured


def _response(status: int, parsed: dict[str, Any]) -> tuple[AWSResponse, dict[str, Any]]:
    parsed = {**parsed, "ResponseMetadata": {"HTTPStatusCode": status, "HTTPHeaders": {}}}
    raw = json.dumps(parsed).encode()
    return AWSResponse("http://local-iam", status, {}, _Raw(raw)), parsed


def _error(status: int, code: str, message: str) -> tuple[AWSResponse, dict[str, Any]]:
    return _response(status, {"Error": {"Code": code, "Message": message}})


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body

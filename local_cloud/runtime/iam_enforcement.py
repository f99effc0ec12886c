"""Every AWS call a function's code makes is authorised against its execution role, as on AWS.

Each function runs with the credentials of its role, assumed in moto's STS as Lambda does
(``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` / ``AWS_SESSION_TOKEN`` in its environment).
A botocore ``before-call`` hook, registered for every session created once the local cloud
starts, looks up the signing key: a key of a function's role has the call mapped to the IAM
actions, resources and condition keys AWS authorises it with (the Service Authorization
Reference, and what AWS's refusals name where the reference lists no resource), and the role's
identity policies *as deployed into moto's IAM* are evaluated with ``iam_policy``. A denied call
gets the service's ``AccessDenied`` answer with IAM's wording and never reaches moto; a
``PutEvents`` entry that is not granted fails on its own, as ``PutEventsResultEntry`` documents.

Calls signed with any other key (the local cloud's own work: the event router, tests) stand for
AWS services acting under resource policies, which are not evaluated here; the construct tests
check those (``tests/infrastructure``). So would a call from a thread a handler starts, or with
keys a handler brings: no handler does either (a test keeps it so). A call this module cannot map
stops with an error naming it, and so does a client of one function used in another's
environment, so neither can slip past unchecked.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlparse

import botocore.handlers
from botocore.awsrequest import AWSResponse

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


@dataclass(frozen=True)
class Request:
    """One authorisation IAM makes for a call (a call may need several)."""

    action: str
    resource: str
    context: dict[str, str]


class UnmappedCallError(RuntimeError):
    """A call the local IAM check does not know how to authorise."""


class CredentialsOfAnotherFunctionError(RuntimeError):
    """A function's call signed with another function's role credentials."""


class Lookups(Protocol):
    """What mapping a call needs to know from the cloud."""

    def token_owner(self, token: str) -> str | None:
        """The ARN of the state machine whose running execution holds ``token``."""

    def secret_arn(self, name: str) -> str:
        """The full ARN of the secret called ``name``."""


# -- the calls the app makes, as IAM authorises them --------------------------------------------


def _table(region: str, account: str, name: str, index: str | None = None) -> str:
    table = name if name.startswith("arn:") else f"arn:aws:dynamodb:{region}:{account}:table/{name}"
    return f"{table}/index/{index}" if index else table


_TRANSACT_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
    "Get": "GetItem",
}


def _dynamodb(
    operation: str, params: dict[str, Any], region: str, account: str, cloud: Lookups
) -> list[Request]:
    if operation in ("TransactWriteItems", "TransactGetItems"):
        requests = []
        for item in params["TransactItems"]:
            ((kind, body),) = item.items()
            table = _table(region, account, body["TableName"])
            requests.append(Request(f"dynamodb:{_TRANSACT_ACTIONS[kind]}", table, {}))
        return requests
    if operation in ("BatchWriteItem", "BatchGetItem"):
        return [
            Request(f"dynamodb:{operation}", _table(region, account, name), {})
            for name in params["RequestItems"]
        ]
    table = _table(region, account, params["TableName"], params.get("IndexName"))
    return [Request(f"dynamodb:{operation}", table, {})]


# A batch is authorised as its single-message action.
_SQS_BATCHES = {
    "SendMessageBatch": "SendMessage",
    "DeleteMessageBatch": "DeleteMessage",
    "ChangeMessageVisibilityBatch": "ChangeMessageVisibility",
}


def _sqs(
    operation: str, params: dict[str, Any], region: str, account: str, cloud: Lookups
) -> list[Request]:
    operation = _SQS_BATCHES.get(operation, operation)
    if "QueueUrl" in params:
        owner, name = urlparse(params["QueueUrl"]).path.strip("/").split("/")[-2:]
    else:
        owner, name = params.get("QueueOwnerAWSAccountId", account), params["QueueName"]
    return [Request(f"sqs:{operation}", f"arn:aws:sqs:{region}:{owner}:{name}", {})]


_S3_ACTIONS = {
    "GetObject": "s3:GetObject",
    "HeadObject": "s3:GetObject",
    "PutObject": "s3:PutObject",
    "DeleteObject": "s3:DeleteObject",
}


def _s3(
    operation: str, params: dict[str, Any], region: str, account: str, cloud: Lookups
) -> list[Request]:
    extra = {"VersionId", "ACL", "Tagging", "GrantRead", "GrantFullControl"} & params.keys()
    if extra:  # each needs a permission of its own (s3:GetObjectVersion, s3:PutObjectAcl, ...)
        raise UnmappedCallError(f"s3 {operation} with {sorted(extra)}")
    if operation in _S3_ACTIONS:
        resource = f"arn:aws:s3:::{params['Bucket']}/{params['Key']}"
        return [Request(_S3_ACTIONS[operation], resource, {})]
    if operation in ("ListObjects", "ListObjectsV2"):
        return [Request("s3:ListBucket", f"arn:aws:s3:::{params['Bucket']}", {})]
    raise UnmappedCallError(f"s3 {operation}")


def _states(
    operation: str, params: dict[str, Any], region: str, account: str, cloud: Lookups
) -> list[Request]:
    action = f"states:{operation}"
    if "executionArn" in params:
        return [Request(action, params["executionArn"], {})]
    if "stateMachineArn" in params:
        return [Request(action, params["stateMachineArn"], {})]
    if "taskToken" in params:
        # The Service Authorization Reference lists no resource type for SendTask*, yet AWS's
        # refusals name the state machine whose task the token belongs to, and grants on it
        # (CDK's grantTaskResponse) are what allow it. A token no running execution holds names
        # no resource: Step Functions answers it (TaskTimedOut, InvalidToken).
        machine = cloud.token_owner(params["taskToken"])
        return [Request(action, machine, {})] if machine else []
    raise UnmappedCallError(f"stepfunctions {operation}")


def _secretsmanager(
    operation: str, params: dict[str, Any], region: str, account: str, cloud: Lookups
) -> list[Request]:
    secret = params["SecretId"]
    if not secret.startswith("arn:"):
        secret = cloud.secret_arn(secret)
    return [Request(f"secretsmanager:{operation}", secret, {})]


_MAPPERS: dict[str, Callable[[str, dict[str, Any], str, str, Lookups], list[Request]]] = {
    "DynamoDB": _dynamodb,
    "SQS": _sqs,
    "S3": _s3,
    "SFN": _states,
    "Secrets Manager": _secretsmanager,
}


# Calls IAM does not authorise (anybody with valid credentials may make them).
_NO_PERMISSION_NEEDED = {("STS", "GetCallerIdentity")}


def requests_for(
    service_id: str,
    operation: str,
    params: dict[str, Any],
    *,
    region: str,
    account: str,
    cloud: Lookups,
) -> list[Request]:
    """The authorisations IAM makes for one call (``PutEvents`` is handled per entry)."""
    if (service_id, operation) in _NO_PERMISSION_NEEDED:
        return []
    mapper = _MAPPERS.get(service_id)
    if mapper is None:
        raise UnmappedCallError(f"{service_id} {operation}")
    try:
        return mapper(operation, params, region, account, cloud)
    except KeyError as missing:  # e.g. ListTables, ListQueues: no table or queue named
        raise UnmappedCallError(f"{service_id} {operation} (no {missing} to map)") from None


def event_bus_arn(name: str | None, region: str, account: str) -> str:
    if name and name.startswith("arn:"):
        return name
    return f"arn:aws:events:{region}:{account}:event-bus/{name or 'default'}"


def put_events_request(entry: dict[str, Any], region: str, account: str) -> Request:
    return Request(
        "events:PutEvents",
        event_bus_arn(entry.get("EventBusName"), region, account),
        {
            "events:source": entry.get("Source", ""),
            "events:detail-type": entry.get("DetailType", ""),
        },
    )


# -- enforcement --------------------------------------------------------------------------------


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


# -- installation -------------------------------------------------------------------------------

_active: Enforcer | None = None


_PARAMS = "local_cloud.iam.params"


def _keep_params(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
    # ``before-call`` sees the serialised request; the API parameters are kept for it here.
    context[_PARAMS] = params


def _hook(model: Any, request_signer: Any, context: dict[str, Any], **_: Any) -> Any:
    if _active is None or _PARAMS not in context:
        return None
    return _active.before_call(model, context[_PARAMS], request_signer)


_HANDLERS = [("before-parameter-build", _keep_params), ("before-call", _hook)]


def install(enforcer: Enforcer) -> None:
    """Check every call against ``enforcer`` from now on. Sessions created from now on carry the
    hook (a function's session is created when its execution environment starts)."""
    global _active
    _active = enforcer
    for handler in _HANDLERS:
        if handler not in botocore.handlers.BUILTIN_HANDLERS:
            botocore.handlers.BUILTIN_HANDLERS.append(handler)


def uninstall(enforcer: Enforcer) -> None:
    global _active
    if _active is enforcer:
        _active = None

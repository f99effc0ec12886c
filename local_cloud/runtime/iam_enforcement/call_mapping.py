"""The calls the app makes, as IAM authorises them: each call mapped to the actions, resources
and condition keys AWS checks it with (``PutEvents`` per entry); a call not mapped stops with an
error naming it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlparse


@dataclass(frozen=True)
class Request:
    """One authorisation IAM makes for a call (a call may need several)."""

    action: str
    resource: str
    context: dict[str, str]


class UnmappedCallError(RuntimeError):
    """A call the local IAM check does not know how to authorise."""


class Lookups(Protocol):
    """What mapping a call needs to know from the cloud."""

    def token_owner(self, token: str) -> str | None:
        """The ARN of the state machine whose running execution holds ``token``."""

    def secret_arn(self, name: str) -> str:
        """The full ARN of the secret called ``name``."""


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

"""API Gateway's IAM authorization (``AuthorizationType: AWS_IAM``), locally.

A request must be signed with Signature Version 4 by an access key that moto's IAM knows, for the
service ``execute-api``, within five minutes of now; the key's user must then be allowed
``execute-api:Invoke`` on the method's ARN by its IAM policies. What API Gateway answers
otherwise (each a ``403``): ``Missing Authentication Token`` (unsigned), ``The security token
included in the request is invalid.`` (unknown key), ``The request signature we calculated does
not match ...`` (wrong secret, or a signed part changed), ``Signature expired: ...``, ``User: ...
is not authorized to perform: execute-api:Invoke on resource: ...``.

The signature is recomputed with botocore's own signer (what every AWS SDK signs with), and the
key and the policies are moto's (``moto.iam.access_control`` finds the key's user and its
policies, inline, attached and through its groups). The policies are evaluated with IAM's logic
by ``iam_policy``, as the functions' calls are: explicit deny, then allow, else implicit deny,
conditions included, with the global keys a signed request carries (``aws:PrincipalArn``,
``aws:PrincipalAccount``, ``aws:PrincipalType``, ``aws:SecureTransport``: API Gateway's endpoints
are HTTPS).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from moto.iam.access_control import CreateAccessKeyFailure, IAMUserAccessKey

from local_cloud.runtime.iam_policy import is_allowed
from local_cloud.runtime.moto_iam import policy_statements

SERVICE: Final = "execute-api"
ALGORITHM: Final = "AWS4-HMAC-SHA256"
MAX_SKEW: Final = timedelta(minutes=5)
_AMZ_DATE: Final = "%Y%m%dT%H%M%SZ"


@dataclass(frozen=True)
class Caller:
    """Who signed the request: what API Gateway puts in ``requestContext.identity``."""

    access_key: str
    account_id: str
    user_id: str
    user_arn: str

    def identity(self, source_ip: str) -> dict[str, str]:
        return {
            "sourceIp": source_ip,
            "accessKey": self.access_key,
            "accountId": self.account_id,
            "caller": self.user_id,
            "user": self.user_id,
            "userArn": self.user_arn,
        }


class Refused(Exception):  # noqa: N818 - API Gateway's refusal, not a bug
    """API Gateway's answer to a request it does not let through: a gateway response type (for
    the template's overrides) and its default message."""

    def __init__(self, response_type: str, message: str) -> None:
        super().__init__(message)
        self.response_type = response_type
        self.message = message


def authorize(
    *,
    method: str,
    url: str,
    headers: dict[str, str],
    body: bytes,
    method_arn: str,
    account_id: str,
    now: datetime | None = None,
) -> Caller:
    """The caller of a request to the method ``method_arn``, or ``Refused`` as API Gateway
    refuses it. ``url`` is the one the client signed (scheme, host, path and query)."""
    lowered = {k.lower(): v for k, v in headers.items()}
    authorization = lowered.get("authorization", "")
    if not authorization:
        raise Refused("MISSING_AUTHENTICATION_TOKEN", "Missing Authentication Token")
    algorithm, _, rest = authorization.partition(" ")
    fields = dict(part.strip().partition("=")[::2] for part in rest.split(",") if "=" in part)
    if algorithm != ALGORITHM or not {"Credential", "SignedHeaders", "Signature"} <= set(fields):
        raise Refused(
            "INVALID_SIGNATURE",
            "Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' "
            f"parameters, signed with {ALGORITHM}. Authorization={authorization[:40]}",
        )
    key_id, _, scope = fields["Credential"].partition("/")
    scope_parts = scope.split("/")
    if len(scope_parts) != 4 or scope_parts[2] != SERVICE:
        raise Refused(
            "INVALID_SIGNATURE", f"Credential should be scoped to correct service: '{SERVICE}'."
        )
    signed_at = _signed_at(lowered.get("x-amz-date", ""))
    moment = now or datetime.now(UTC)
    if abs(moment - signed_at) > MAX_SKEW:
        raise Refused(
            "EXPIRED_TOKEN",
            f"Signature expired: {signed_at.strftime(_AMZ_DATE)} is now earlier than "
            f"{(moment - MAX_SKEW).strftime(_AMZ_DATE)} "
            f"({moment.strftime(_AMZ_DATE)} - 5 min.)",
        )
    content_hash = lowered.get("x-amz-content-sha256")
    if content_hash not in (None, hashlib.sha256(body).hexdigest()):
        # The signer takes this header's word for the body (UNSIGNED-PAYLOAD included): the
        # body must be the one signed.
        raise Refused(
            "INVALID_SIGNATURE",
            "The provided 'x-amz-content-sha256' header does not match what was computed.",
        )
    try:
        key = IAMUserAccessKey(account_id, "aws", key_id, headers)
    except CreateAccessKeyFailure as err:
        raise Refused(
            "UNAUTHORIZED", "The security token included in the request is invalid."
        ) from err
    expected = _signature(key, scope_parts[1], method, url, lowered, body, fields["SignedHeaders"])
    if not hmac.compare_digest(fields["Signature"], expected):
        raise Refused(
            "INVALID_SIGNATURE",
            "The request signature we calculated does not match the signature you provided. "
            "Check your AWS Secret Access Key and signing method. Consult the service "
            "documentation for details.",
        )
    statements = [s for policy in key.collect_policies() for s in policy_statements(policy)]
    context = {
        "aws:PrincipalArn": key.arn,
        "aws:PrincipalAccount": account_id,
        "aws:PrincipalType": "User",
        "aws:SecureTransport": "true",
    }
    if not is_allowed(statements, f"{SERVICE}:Invoke", method_arn, context):
        raise Refused(
            "ACCESS_DENIED",
            f"User: {key.arn} is not authorized to perform: {SERVICE}:Invoke on resource: "
            f"{method_arn}",
        )
    user = key.backend.get_user(key.arn.rsplit("/", 1)[-1])
    return Caller(access_key=key_id, account_id=account_id, user_id=user.id, user_arn=key.arn)


def _signed_at(amz_date: str) -> datetime:
    try:
        return datetime.strptime(amz_date, _AMZ_DATE).replace(tzinfo=UTC)
    except ValueError as err:
        raise Refused(
            "INVALID_SIGNATURE",
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
        ) from err


def _signature(
    key: IAMUserAccessKey,
    region: str,
    method: str,
    url: str,
    lowered: dict[str, str],
    body: bytes,
    signed_headers: str,
) -> str:
    """The signature botocore computes for the signed headers (``lowered``: by lower-case
    name, as SigV4 canonicalises them) of this request."""
    signed = set(signed_headers.split(";"))
    request = AWSRequest(
        method=method,
        url=url,
        data=body,
        headers={k: v for k, v in lowered.items() if k in signed},
    )
    request.context["timestamp"] = lowered["x-amz-date"]
    signer = SigV4Auth(key.create_credentials(), SERVICE, region)
    canonical = signer.canonical_request(request)
    return str(signer.signature(signer.string_to_sign(request, canonical), request))

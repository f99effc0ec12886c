"""The local API Gateway's IAM authorization: SigV4 signatures checked against moto's IAM keys and
``execute-api:Invoke`` against the signer's policies, refused as API Gateway refuses them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from moto import mock_aws

from local_cloud.runtime.iam_auth import Caller, Refused, authorize

ACCOUNT = "123456789012"
API = f"arn:aws:execute-api:us-east-1:{ACCOUNT}:api1"
URL = "http://127.0.0.1:4000/v1/orders/A-1/actions/approval"
METHOD_ARN = f"{API}/v1/POST/orders/A-1/actions/approval"
BODY = b'{"decision":"approve"}'


def _user(iam: object, name: str, statements: list[dict[str, object]]) -> Credentials:
    iam.create_user(UserName=name)  # type: ignore[attr-defined]
    if statements:
        iam.put_user_policy(  # type: ignore[attr-defined]
            UserName=name,
            PolicyName="api",
            PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": statements}),
        )
    key = iam.create_access_key(UserName=name)["AccessKey"]  # type: ignore[attr-defined]
    return Credentials(key["AccessKeyId"], key["SecretAccessKey"])


@pytest.fixture
def users() -> Iterator[dict[str, Credentials]]:
    with mock_aws():
        iam = boto3.client("iam", region_name="us-east-1")
        invoke = {"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": f"{API}/*"}
        yield {
            "alice": _user(iam, "alice", [invoke]),
            "nobody": _user(iam, "nobody", []),
            # Conditions are IAM's: a user (not a role) over HTTPS may invoke; moto's own
            # evaluator failed every condition key but sts:ExternalId.
            "conditional": _user(
                iam,
                "conditional",
                [
                    {
                        **invoke,
                        "Condition": {
                            "StringEquals": {"aws:PrincipalType": "User"},
                            "Bool": {"aws:SecureTransport": "true"},
                        },
                    }
                ],
            ),
            "roles only": _user(
                iam,
                "roles-only",
                [{**invoke, "Condition": {"StringEquals": {"aws:PrincipalType": "AssumedRole"}}}],
            ),
            "denied": _user(
                iam,
                "denied",
                [
                    invoke,
                    {
                        "Effect": "Deny",
                        "Action": "execute-api:Invoke",
                        "Resource": f"{API}/*/POST/orders/*/actions/approval",
                    },
                ],
            ),
        }


def signed(
    credentials: Credentials,
    *,
    url: str = URL,
    body: bytes = BODY,
    service: str = "execute-api",
    headers: dict[str, str] | None = None,
) -> dict[str, str]:
    """The headers an SDK sends for a POST of ``body`` to ``url``."""
    request = AWSRequest(
        method="POST",
        url=url,
        data=body,
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    SigV4Auth(credentials, service, "us-east-1").add_auth(request)
    return dict(request.headers.items())


def check(headers: dict[str, str], *, url: str = URL, body: bytes = BODY, **kw: object) -> Caller:
    return authorize(
        method="POST",
        url=url,
        headers=headers,
        body=body,
        method_arn=METHOD_ARN,
        account_id=ACCOUNT,
        **kw,  # type: ignore[arg-type]
    )


def refusal(headers: dict[str, str], **kw: object) -> tuple[str, str]:
    with pytest.raises(Refused) as refused:
        check(headers, **kw)
    return refused.value.response_type, refused.value.message


def test_a_request_signed_by_a_known_key_is_its_users(users: dict[str, Credentials]) -> None:
    caller = check(signed(users["alice"]))

    assert caller.user_arn == f"arn:aws:iam::{ACCOUNT}:user/alice"
    assert caller.access_key == users["alice"].access_key
    identity = caller.identity("127.0.0.1")
    assert (identity["userArn"], identity["accountId"]) == (caller.user_arn, ACCOUNT)
    user = boto3.client("iam", region_name="us-east-1").get_user(UserName="alice")["User"]
    assert identity["caller"] == user["UserId"]  # as API Gateway gives it


def test_an_unsigned_request_is_missing_its_authentication_token(
    users: dict[str, Credentials],
) -> None:
    assert refusal({"Content-Type": "application/json"}) == (
        "MISSING_AUTHENTICATION_TOKEN",
        "Missing Authentication Token",
    )


def test_a_key_iam_does_not_know_is_an_invalid_security_token(
    users: dict[str, Credentials],
) -> None:
    forged = Credentials("AKIAIOSFODNN7EXAMPLE", users["alice"].secret_key)

    assert refusal(signed(forged))[1] == "The security token included in the request is invalid."


@pytest.mark.parametrize(
    "change",
    ["wrong secret", "body changed", "path changed", "query added"],
)
def test_a_signature_that_does_not_match_the_request_is_refused(
    users: dict[str, Credentials], change: str
) -> None:
    alice = users["alice"]
    headers, url, body = signed(alice), URL, BODY
    if change == "wrong secret":
        headers = signed(Credentials(alice.access_key, "not-" + alice.secret_key))
    elif change == "body changed":
        body = b'{"decision":"reject"}'
    elif change == "path changed":
        url = URL.replace("A-1", "B-2")
    else:
        url = URL + "?on_behalf_of=bob"

    kind, message = refusal(headers, url=url, body=body)

    assert kind == "INVALID_SIGNATURE"
    assert message.startswith("The request signature we calculated does not match")


def test_a_body_hash_header_must_be_the_bodys(users: dict[str, Credentials]) -> None:
    # The signer takes this header's word for the body: another body, or none, must not pass.
    for claimed in ("UNSIGNED-PAYLOAD", "0" * 64):
        headers = signed(users["alice"], headers={"X-Amz-Content-Sha256": claimed})
        assert refusal(headers)[0] == "INVALID_SIGNATURE"


def test_a_signature_older_than_five_minutes_has_expired(users: dict[str, Credentials]) -> None:
    headers = signed(users["alice"])
    later = datetime.now(UTC) + timedelta(minutes=6)

    kind, message = refusal(headers, now=later)

    assert kind == "EXPIRED_TOKEN"
    assert message.startswith("Signature expired: ")
    check(headers, now=datetime.now(UTC) + timedelta(minutes=4))  # within the window: fine


def test_a_signature_for_another_service_is_refused(users: dict[str, Credentials]) -> None:
    kind, message = refusal(signed(users["alice"], service="s3"))

    assert kind == "INVALID_SIGNATURE"
    assert "execute-api" in message


def test_conditions_on_the_signer_are_evaluated_as_iam_does(
    users: dict[str, Credentials],
) -> None:
    assert check(signed(users["conditional"])).user_arn.endswith(":user/conditional")
    assert refusal(signed(users["roles only"]))[0] == "ACCESS_DENIED"


@pytest.mark.parametrize("user", ["nobody", "denied"])
def test_a_user_not_allowed_to_invoke_the_method_is_denied(
    users: dict[str, Credentials], user: str
) -> None:
    kind, message = refusal(signed(users[user]))

    assert kind == "ACCESS_DENIED"
    assert message == (
        f"User: arn:aws:iam::{ACCOUNT}:user/{user} is not authorized to perform: "
        f"execute-api:Invoke on resource: {METHOD_ARN}"
    )

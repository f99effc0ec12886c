"""The local IAM check: IAM's evaluation logic, and each call the app makes mapped to what AWS
authorises it with (Service Authorization Reference), without a cloud."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from local_cloud.runtime import iam_enforcement
from local_cloud.runtime.iam_enforcement import (
    Enforcer,
    Request,
    RoleSession,
    UnmappedCallError,
    requests_for,
)
from local_cloud.runtime.iam_policy import Decision, decide

REGION, ACCOUNT = "us-east-1", "123456789012"
TABLE = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/Orders"
BUS = f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/default"


def allow(action: Any, resource: Any, **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


# -- IAM's evaluation logic ---------------------------------------------------------------------


def test_nothing_is_allowed_without_a_statement_that_allows_it() -> None:
    assert decide([], "dynamodb:GetItem", TABLE) is Decision.IMPLICIT_DENY
    assert decide([allow("dynamodb:PutItem", TABLE)], "dynamodb:GetItem", TABLE) is (
        Decision.IMPLICIT_DENY
    )
    assert decide([allow("dynamodb:GetItem", TABLE + "X")], "dynamodb:GetItem", TABLE) is (
        Decision.IMPLICIT_DENY
    )


def test_actions_match_without_case_and_resources_with_it() -> None:
    statements = [allow("DynamoDB:getitem", TABLE)]
    assert decide(statements, "dynamodb:GetItem", TABLE) is Decision.ALLOWED
    assert decide(statements, "dynamodb:GetItem", TABLE.lower()) is Decision.IMPLICIT_DENY


def test_wildcards_match_in_actions_and_resources() -> None:
    statements = [allow("dynamodb:Get*", f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/Ord?rs")]
    assert decide(statements, "dynamodb:GetItem", TABLE) is Decision.ALLOWED
    assert decide(statements, "dynamodb:PutItem", TABLE) is Decision.IMPLICIT_DENY


def test_an_explicit_deny_wins_over_any_allow_in_any_order() -> None:
    deny = {"Effect": "Deny", "Action": "dynamodb:*", "Resource": "*"}
    for statements in ([allow("*", "*"), deny], [deny, allow("*", "*")]):
        assert decide(statements, "dynamodb:GetItem", TABLE) is Decision.EXPLICIT_DENY


def test_not_action_and_not_resource_allow_everything_else() -> None:
    statements = [{"Effect": "Allow", "NotAction": "dynamodb:DeleteItem", "NotResource": BUS}]
    assert decide(statements, "dynamodb:GetItem", TABLE) is Decision.ALLOWED
    assert decide(statements, "dynamodb:DeleteItem", TABLE) is Decision.IMPLICIT_DENY
    assert decide(statements, "events:PutEvents", BUS) is Decision.IMPLICIT_DENY


SOURCE_GRANT = [
    allow("events:PutEvents", BUS, Condition={"StringEquals": {"events:source": ["mine"]}}),
    {
        "Effect": "Deny",
        "Action": "events:PutEvents",
        "Resource": "*",
        "Condition": {"StringNotEquals": {"events:source": ["mine"]}},
    },
]


def test_a_source_condition_allows_its_source_only_and_keys_ignore_case() -> None:
    assert decide(SOURCE_GRANT, "events:PutEvents", BUS, {"events:source": "mine"}) is (
        Decision.ALLOWED
    )
    assert decide(SOURCE_GRANT, "events:PutEvents", BUS, {"Events:Source": "mine"}) is (
        Decision.ALLOWED
    )
    assert decide(SOURCE_GRANT, "events:PutEvents", BUS, {"events:source": "theirs"}) is (
        Decision.EXPLICIT_DENY
    )


def test_a_negated_operator_matches_when_the_key_is_absent() -> None:
    # IAM: StringNotEquals on a key the request lacks is true, so the deny applies.
    assert decide(SOURCE_GRANT, "events:PutEvents", BUS, {}) is Decision.EXPLICIT_DENY


def test_like_operators_and_several_values() -> None:
    statements = [
        allow("events:PutEvents", BUS, Condition={"StringLike": {"events:source": ["a.*", "b"]}})
    ]
    for source, expected in (("a.x", True), ("b", True), ("bb", False), ("c", False)):
        decision = decide(statements, "events:PutEvents", BUS, {"events:source": source})
        assert (decision is Decision.ALLOWED) is expected, source


def test_an_unknown_condition_operator_is_an_error_not_a_pass() -> None:
    statements = [allow("*", "*", Condition={"DateGreaterThan": {"aws:CurrentTime": "2020"}})]
    with pytest.raises(NotImplementedError, match="DateGreaterThan"):
        decide(statements, "dynamodb:GetItem", TABLE)


# -- calls mapped to authorisations -------------------------------------------------------------


class _Lookups:
    def token_owner(self, token: str) -> str | None:
        return f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:machine" if token == "t" else None

    def secret_arn(self, name: str) -> str:
        return f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{name}-AbCdEf"


def mapped(service: str, operation: str, params: dict[str, Any]) -> list[Request]:
    return requests_for(
        service, operation, params, region=REGION, account=ACCOUNT, cloud=_Lookups()
    )


@pytest.mark.parametrize(
    ("service", "operation", "params", "expected"),
    [
        ("DynamoDB", "GetItem", {"TableName": "Orders"}, [("dynamodb:GetItem", TABLE)]),
        (
            "DynamoDB",
            "Query",
            {"TableName": "Orders", "IndexName": "ByStatus"},
            [("dynamodb:Query", f"{TABLE}/index/ByStatus")],
        ),
        (
            "DynamoDB",
            "TransactWriteItems",
            {
                "TransactItems": [
                    {"Put": {"TableName": "Orders"}},
                    {"ConditionCheck": {"TableName": "Locks"}},
                ]
            },
            [
                ("dynamodb:PutItem", TABLE),
                ("dynamodb:ConditionCheckItem", TABLE.replace("Orders", "Locks")),
            ],
        ),
        (
            "DynamoDB",
            "BatchWriteItem",
            {"RequestItems": {"Orders": []}},
            [("dynamodb:BatchWriteItem", TABLE)],
        ),
        (
            "SQS",
            "SendMessage",
            {"QueueUrl": f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/requests"},
            [("sqs:SendMessage", f"arn:aws:sqs:{REGION}:{ACCOUNT}:requests")],
        ),
        (
            "SQS",
            "DeleteMessageBatch",
            {"QueueUrl": f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/requests"},
            [("sqs:DeleteMessage", f"arn:aws:sqs:{REGION}:{ACCOUNT}:requests")],
        ),
        (
            "SQS",
            "GetQueueUrl",
            {"QueueName": "requests"},
            [("sqs:GetQueueUrl", f"arn:aws:sqs:{REGION}:{ACCOUNT}:requests")],
        ),
        (
            "S3",
            "HeadObject",
            {"Bucket": "docs", "Key": "orders/a.json"},
            [("s3:GetObject", "arn:aws:s3:::docs/orders/a.json")],
        ),
        (
            "SFN",
            "SendTaskSuccess",
            {"taskToken": "t"},
            [("states:SendTaskSuccess", f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:machine")],
        ),
        ("SFN", "SendTaskFailure", {"taskToken": "closed"}, []),
        (
            "SFN",
            "DescribeExecution",
            {"executionArn": "arn:aws:states:r:a:execution:m:e"},
            [("states:DescribeExecution", "arn:aws:states:r:a:execution:m:e")],
        ),
        (
            "Secrets Manager",
            "GetSecretValue",
            {"SecretId": "vendor"},
            [
                (
                    "secretsmanager:GetSecretValue",
                    f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:vendor-AbCdEf",
                )
            ],
        ),
    ],
)
def test_each_call_is_authorised_as_aws_does(
    service: str, operation: str, params: dict[str, Any], expected: list[tuple[str, str]]
) -> None:
    assert [(r.action, r.resource) for r in mapped(service, operation, params)] == expected


def test_a_call_nobody_mapped_stops_instead_of_passing() -> None:
    with pytest.raises(UnmappedCallError, match="Lambda Invoke"):
        mapped("Lambda", "Invoke", {"FunctionName": "f"})
    with pytest.raises(UnmappedCallError, match="s3 CopyObject"):
        mapped("S3", "CopyObject", {"Bucket": "b", "Key": "k"})


# -- the hook, on moto --------------------------------------------------------------------------

ROLE = "worker-role"
SESSION = RoleSession(account=ACCOUNT, role_name=ROLE, session_name="worker")


@pytest.fixture
def enforced() -> Any:
    """moto, one role allowed to read one table and to put events as ``mine``, and a session
    signed with its assumed-role key."""
    with mock_aws():
        admin = boto3.session.Session(
            aws_access_key_id="admin", aws_secret_access_key="x", region_name=REGION
        )
        admin.client("dynamodb").create_table(
            TableName="Orders",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        statements = [allow("dynamodb:GetItem", TABLE), *SOURCE_GRANT]  # tests may replace them
        key = admin.client("sts").assume_role(
            RoleArn=f"arn:aws:iam::{ACCOUNT}:role/{ROLE}", RoleSessionName="worker"
        )["Credentials"]
        enforcer = Enforcer(
            sessions={key["AccessKeyId"]: SESSION},
            statements_of=lambda role: statements,
            cloud=_Lookups(),
            admin_put_events=lambda entries, region: admin.client("events").put_events(
                Entries=entries
            ),
        )
        iam_enforcement.install(enforcer)
        try:
            yield (
                enforcer,
                statements,
                boto3.session.Session(
                    aws_access_key_id=key["AccessKeyId"],
                    aws_secret_access_key=key["SecretAccessKey"],
                    aws_session_token=key["SessionToken"],
                    region_name=REGION,
                ),
            )
        finally:
            iam_enforcement.uninstall(enforcer)


def test_an_allowed_call_reaches_the_service_and_a_refused_one_does_not(enforced: Any) -> None:
    enforcer, _, session = enforced
    dynamodb = session.client("dynamodb")
    assert "Item" not in dynamodb.get_item(TableName="Orders", Key={"pk": {"S": "1"}})
    with pytest.raises(ClientError) as refused:
        dynamodb.put_item(TableName="Orders", Item={"pk": {"S": "1"}})
    assert refused.value.response["Error"]["Code"] == "AccessDeniedException"
    assert refused.value.response["Error"]["Message"] == (
        f"User: {SESSION.arn} is not authorized to perform: dynamodb:PutItem on resource: "
        f"{TABLE} because no identity-based policy allows the dynamodb:PutItem action"
    )
    assert "Item" not in dynamodb.get_item(TableName="Orders", Key={"pk": {"S": "1"}})
    assert enforcer.denials == [refused.value.response["Error"]["Message"]]


def test_an_explicit_deny_is_worded_as_iam_words_it(enforced: Any) -> None:
    _, _, session = enforced
    answer = session.client("events").put_events(
        Entries=[{"Source": "theirs", "DetailType": "x", "Detail": json.dumps({})}]
    )
    assert answer["FailedEntryCount"] == 1
    assert answer["Entries"][0]["ErrorCode"] == "NotAuthorizedForSourceException"
    assert answer["Entries"][0]["ErrorMessage"].endswith(
        "with an explicit deny in an identity-based policy"
    )


def test_put_events_sends_the_allowed_entries_and_refuses_the_others_in_place(
    enforced: Any,
) -> None:
    _, _, session = enforced
    entries = [
        {"Source": source, "DetailType": "x", "Detail": json.dumps({"n": n})}
        for n, source in enumerate(["theirs", "mine", "theirs", "mine"])
    ]
    answer = session.client("events").put_events(Entries=entries)
    assert answer["FailedEntryCount"] == 2
    assert ["ErrorCode" in e for e in answer["Entries"]] == [True, False, True, False]
    assert all("EventId" in e for e in answer["Entries"][1::2])


def test_calls_signed_by_other_keys_are_not_checked(enforced: Any) -> None:
    enforcer, _, _ = enforced
    other = boto3.session.Session(
        aws_access_key_id="someone", aws_secret_access_key="x", region_name=REGION
    )
    other.client("dynamodb").put_item(TableName="Orders", Item={"pk": {"S": "2"}})
    assert enforcer.denials == []


# -- what the review found ----------------------------------------------------------------------


def test_only_star_and_question_mark_are_wildcards() -> None:
    bracket = [allow("s3:GetObject", "arn:aws:s3:::b/[ab]")]
    assert decide(bracket, "s3:GetObject", "arn:aws:s3:::b/a") is Decision.IMPLICIT_DENY
    assert decide(bracket, "s3:GetObject", "arn:aws:s3:::b/[ab]") is Decision.ALLOWED


def test_arn_equals_takes_wildcards_as_arn_like_does() -> None:
    deny = {
        "Effect": "Deny",
        "Action": "*",
        "Resource": "*",
        "Condition": {"ArnEquals": {"aws:PrincipalArn": "arn:aws:iam::*:role/worker-*"}},
    }
    context = {"aws:PrincipalArn": f"arn:aws:iam::{ACCOUNT}:role/worker-role"}
    assert decide([allow("*", "*"), deny], "dynamodb:GetItem", TABLE, context) is (
        Decision.EXPLICIT_DENY
    )


def test_a_policy_variable_is_an_error_not_a_literal() -> None:
    statements = [allow("s3:GetObject", "arn:aws:s3:::b/${aws:username}/*")]
    with pytest.raises(NotImplementedError, match="policy variables"):
        decide(statements, "s3:GetObject", "arn:aws:s3:::b/x/y")


def test_a_region_guard_sees_the_requested_region(enforced: Any) -> None:
    """Global condition keys are in every request: a common "nothing outside us-east-1" deny
    leaves calls in us-east-1 alone."""
    _, statements, session = enforced
    statements[:] = [
        allow("dynamodb:GetItem", TABLE),
        {
            "Effect": "Deny",
            "Action": "*",
            "Resource": "*",
            "Condition": {"StringNotEquals": {"aws:RequestedRegion": REGION}},
        },
    ]
    session.client("dynamodb").get_item(TableName="Orders", Key={"pk": {"S": "1"}})


def test_a_refused_detail_type_is_named_as_such(enforced: Any) -> None:
    _, statements, session = enforced
    statements[:] = [
        allow(
            "events:PutEvents",
            BUS,
            Condition={"StringEquals": {"events:detail-type": ["allowed"]}},
        )
    ]
    answer = session.client("events").put_events(
        Entries=[{"Source": "mine", "DetailType": "other", "Detail": "{}"}]
    )
    assert answer["Entries"][0]["ErrorCode"] == "NotAuthorizedForDetailTypeException"
    statements[:] = []
    answer = session.client("events").put_events(
        Entries=[{"Source": "mine", "DetailType": "other", "Detail": "{}"}]
    )
    assert answer["Entries"][0]["ErrorCode"] == "AccessDeniedException"


def test_s3_refusals_as_s3_gives_them(enforced: Any) -> None:
    _, _, session = enforced
    s3 = session.client("s3")
    with pytest.raises(ClientError) as refused:
        s3.put_object(Bucket="docs", Key="orders/a.json", Body=b"{}")
    error = refused.value.response["Error"]
    assert error["Code"] == "AccessDenied"
    assert 'on resource: "arn:aws:s3:::docs/orders/a.json"' in error["Message"]
    with pytest.raises(ClientError) as head:
        s3.head_object(Bucket="docs", Key="orders/a.json")
    assert (head.value.response["Error"]["Code"], head.value.response["Error"]["Message"]) == (
        "403",
        "Forbidden",
    )


def test_calls_that_name_no_resource_are_unmapped_not_crashing() -> None:
    with pytest.raises(UnmappedCallError, match="ListTables"):
        mapped("DynamoDB", "ListTables", {})
    with pytest.raises(UnmappedCallError, match="VersionId"):
        mapped("S3", "GetObject", {"Bucket": "b", "Key": "k", "VersionId": "v"})
    assert mapped("STS", "GetCallerIdentity", {}) == []


def test_a_client_of_one_function_used_in_another_functions_environment_stops(
    enforced: Any,
) -> None:
    enforcer, _, session = enforced
    enforcer._running_key = lambda: "ANOTHER-FUNCTIONS-KEY"
    with pytest.raises(iam_enforcement.CredentialsOfAnotherFunctionError, match="DynamoDB"):
        session.client("dynamodb").get_item(TableName="Orders", Key={"pk": {"S": "1"}})


def test_take_denials_leaves_the_others(enforced: Any) -> None:
    enforcer, _, _ = enforced
    enforcer.denials[:] = ["a sqs:SendMessage b", "c dynamodb:Query d"]
    assert enforcer.take_denials("sqs:") == ["a sqs:SendMessage b"]
    assert enforcer.denials == ["c dynamodb:Query d"]


def test_handlers_neither_start_threads_nor_sign_with_keys_of_their_own() -> None:
    """What the local check cannot see: a thread a handler starts runs without the function's
    environment (its calls would be the local cloud's own), and a client given keys is not a
    role session. No handler does either; this keeps it so."""
    lambdas = Path(__file__).resolve().parents[2] / "lambdas"
    found = []
    for file in lambdas.rglob("*.py"):
        text = file.read_text()
        for needle in ("threading", "concurrent.futures", "aws_access_key_id", "Thread("):
            if needle in text:
                found.append(f"{file.relative_to(lambdas)}: {needle}")
    assert found == []

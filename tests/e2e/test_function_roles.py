"""Each function runs with its own role's credentials, and a call its role does not allow fails
on the local cloud as it would on AWS (``local_cloud.runtime.iam_enforcement``).

The grant removed here is edited out of the role's policy in moto's IAM, which is what a deploy
of a template without it would leave; the test puts it back however it ends.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from fake_vendor import FakeVendor
from local_cloud.cloud import LocalCloud
from loyalty.contract import Source
from tests.e2e.conftest import sale


def _role_of(cloud: LocalCloud, function_prefix: str) -> str:
    function = cloud.function(function_prefix)
    session = cloud.iam.session_of(function.credentials["AWS_ACCESS_KEY_ID"])  # type: ignore[union-attr]
    assert session is not None
    return session.role_name


def _client_as(cloud: LocalCloud, function_prefix: str, service: str) -> Any:
    """A client signing with the function's role credentials, as its own code does."""
    return cloud.function(function_prefix).role_session("us-east-1").client(service)


@pytest.fixture
def order_api_without_orders_table_reads(cloud: LocalCloud) -> Iterator[str]:
    """The Order API's role with the statement that lets it read the orders table removed."""
    iam = cloud.client("iam")
    role = _role_of(cloud, "OrderApi")
    orders_table = f"table/{cloud.orders_table}"
    saved = {}
    for name in iam.list_role_policies(RoleName=role)["PolicyNames"]:
        document = iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
        kept = [
            s
            for s in document["Statement"]
            if not ("dynamodb:Query" in str(s["Action"]) and orders_table in str(s["Resource"]))
        ]
        if len(kept) < len(document["Statement"]):
            saved[name] = document
            iam.put_role_policy(
                RoleName=role,
                PolicyName=name,
                PolicyDocument=json.dumps({**document, "Statement": kept}),
            )
    assert saved, "no statement of the Order API's role grants reading the orders table"
    try:
        yield role
    finally:
        for name, document in saved.items():
            iam.put_role_policy(RoleName=role, PolicyName=name, PolicyDocument=json.dumps(document))


def test_every_function_signs_with_a_session_of_its_own_role(cloud: LocalCloud) -> None:
    template_roles = {}
    for stack in cloud.stacks.values():
        for function in stack.of_type("AWS::Lambda::Function"):
            template_roles[function.ref] = function
    assert cloud.iam is not None
    for function in cloud.functions.values():
        session = cloud.iam.session_of(function.credentials["AWS_ACCESS_KEY_ID"])
        assert session is not None, function.name
        assert session.session_name == function.name[:64]
        role = cloud.client("iam").get_role(RoleName=session.role_name)["Role"]
        trust = role["AssumeRolePolicyDocument"]["Statement"]
        assert any(s["Principal"].get("Service") == "lambda.amazonaws.com" for s in trust)
    # no two functions share a role: each has only the grants its own code needs
    sessions = [
        cloud.iam.session_of(f.credentials["AWS_ACCESS_KEY_ID"]) for f in cloud.functions.values()
    ]
    assert len({s.role_name for s in sessions if s}) == len(cloud.functions)


def test_every_kind_of_call_a_function_makes_is_checked_under_its_role(
    cloud: LocalCloud, vendor: FakeVendor, new_reference: Any
) -> None:
    """Calls from the handler's own clients, from Powertools' (the mediator's secret) and from
    the SQS pollers acting for a function all carry the function's role."""
    assert cloud.iam is not None
    reference, member = new_reference("IAM"), new_reference("IAM-MEMBER")
    vendor.add_account(member, balance=1_000)
    cloud.submit_order(sale(reference, loyalty_reference=member))
    assert cloud.wait_for_order(reference).status == "COMPLETED"
    checked = cloud.iam.checked
    mediator = _role_of(cloud, "Mediator")
    for action in ("sqs:ReceiveMessage", "sqs:DeleteMessage", "secretsmanager:GetSecretValue"):
        assert checked[mediator, action] > 0, action
    assert checked[_role_of(cloud, "TokenHandler"), "states:SendTaskSuccess"] > 0
    assert checked[_role_of(cloud, "StoreOrder"), "dynamodb:PutItem"] > 0
    assert checked[_role_of(cloud, "OrderStarter"), "states:StartExecution"] > 0


def test_a_grant_removed_from_one_role_fails_that_call_as_on_aws(
    cloud: LocalCloud, order_api_without_orders_table_reads: str, new_reference: Any
) -> None:
    assert cloud.iam is not None
    reference = new_reference("IAM")
    cloud.submit_order(sale(reference))
    cloud.wait_for_order(reference)

    answer = cloud.api("client").order(reference)

    assert answer.status == 502  # the function failed: API Gateway answers as for any crash
    # expected here (the suite's check fails a test on any other refusal)
    denials = cloud.iam.take_denials(f"/{order_api_without_orders_table_reads}/")
    assert denials, "the read was not refused"
    assert denials[0].startswith(
        "User: arn:aws:sts::123456789012:assumed-role/"
        f"{order_api_without_orders_table_reads}/{cloud.function('OrderApi').name}"
        " is not authorized to perform: dynamodb:"
    )
    assert f"table/{cloud.orders_table}" in denials[0]
    assert "because no identity-based policy allows" in denials[0]


def test_the_grant_back_the_same_call_succeeds(cloud: LocalCloud, new_reference: Any) -> None:
    reference = new_reference("IAM")
    cloud.submit_order(sale(reference))
    cloud.wait_for_order(reference)
    assert cloud.api("client").order(reference).status == 200


def test_an_operators_re_run_needs_no_grant_its_functions_lack(
    cloud: LocalCloud, vendor: FakeVendor, new_reference: Any
) -> None:
    """A re-run takes paths a first run does not (the store resumes the record, the transform
    reads what the vendor applied): two grants once missing here, found by this check. The
    suite's ``no_access_denied`` fixture fails the test on any refusal."""
    reference, member = new_reference("IAM-RERUN"), new_reference("IAM-MEMBER")
    cloud.submit_order(sale(reference, loyalty_reference=member))
    first = cloud.wait_for_order(reference)
    assert (first.status, first.error) == ("FAILED", "VendorRejected")  # no such member yet

    vendor.add_account(member, balance=1_000)
    assert cloud.api("client").retry(reference, comment="member enrolled").status == 202
    rerun = cloud.wait_for_order(reference)

    assert rerun.status == "COMPLETED", cloud.stall_report(reference)


def test_put_events_is_refused_entry_by_entry_for_a_source_the_role_may_not_use(
    cloud: LocalCloud,
) -> None:
    """The ``events:source`` condition, evaluated at run time: the Order API may announce as the
    order intake, not as the order process; the refused entry fails alone."""
    assert cloud.iam is not None
    events = _client_as(cloud, "OrderApi", "events")
    # a detail type no rule takes: the accepted entry starts nothing
    entry = {"DetailType": "iam-probe", "Detail": json.dumps({"probe": 1})}

    answer = events.put_events(
        Entries=[
            {**entry, "Source": Source.ORDER_PROCESS.value},
            {**entry, "Source": Source.ORDER_INTAKE.value},
        ]
    )

    assert answer["FailedEntryCount"] == 1
    refused, accepted = answer["Entries"]
    assert refused["ErrorCode"] == "NotAuthorizedForSourceException"
    assert (
        "events:PutEvents on resource: arn:aws:events:us-east-1:123456789012:event-bus/default"
        in (refused["ErrorMessage"])
    )
    assert "EventId" in accepted and "ErrorCode" not in accepted
    assert cloud.iam.take_denials("events:PutEvents") == [refused["ErrorMessage"]]


def test_a_service_the_role_has_no_grant_for_is_refused(cloud: LocalCloud) -> None:
    """The Order API's role has no grant on the dead-letter queues."""
    assert cloud.iam is not None
    sqs = _client_as(cloud, "OrderApi", "sqs")
    queue_url = next(url for _, url in cloud.queues(dead_letter=True))
    with pytest.raises(ClientError) as refused:
        sqs.send_message(QueueUrl=queue_url, MessageBody="{}")
    assert refused.value.response["Error"]["Code"] == "AccessDenied"
    assert "sqs:SendMessage" in refused.value.response["Error"]["Message"]
    assert cloud.iam.take_denials("sqs:SendMessage") == [refused.value.response["Error"]["Message"]]

"""The Vendor Mediator stack as synthesised."""

from __future__ import annotations

import json
from typing import Any

from aws_cdk.assertions import Match, Template

from loyalty import contract
from tests.infrastructure.asl import all_states, definition
from tests.sample_events import load_event


def test_mediator_rules_are_seed_step_2_for_the_four_types_and_its_twin_for_reversals(
    vendor_template: Template,
) -> None:
    rules = [
        r["Properties"]["EventPattern"]
        for r in vendor_template.find_resources("AWS::Events::Rule").values()
    ]
    seed = load_event("seed000_step2_pattern")
    seed["detail"]["metadata"]["type"] = [t.value for t in contract.EFFECT_TYPES]
    reversals = load_event("seed000_step2_pattern")
    reversals["detail"]["metadata"]["type"] = [t.value for t in contract.REVERSAL_TYPES]
    # The seed's pattern byte for byte, plus a source filter: only the order process asks.
    assert sorted(json.dumps(contract.seed_pattern(p)) for p in rules) == sorted(
        [json.dumps(seed), json.dumps(reversals)]
    )
    assert [p["source"] for p in rules] == [[contract.Source.ORDER_PROCESS.value]] * 2


def test_mediator_answers_with_its_own_source_and_reads_the_key_from_secrets_manager(
    vendor_template: Template,
) -> None:
    vendor_template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Handler": "vendor_mediator.handler.handler",
            "Environment": {
                "Variables": Match.object_like(
                    {
                        "EVENT_SOURCE": "service-loyalty-vendor-mediator",
                        "EVENT_BUS": "default",
                        "VENDOR_API_KEY_SECRET_ID": {
                            "Ref": Match.string_like_regexp("VendorApiKey")
                        },
                        "VENDOR_CONNECT_TIMEOUT_SECONDS": "2.0",
                        "VENDOR_READ_TIMEOUT_SECONDS": "5.0",
                    }
                )
            },
        },
    )
    vendor_template.resource_count_is("AWS::SecretsManager::Secret", 1)


def test_no_api_key_value_is_in_the_template(vendor_template: Template) -> None:
    (secret,) = vendor_template.find_resources("AWS::SecretsManager::Secret").values()
    assert "SecretString" not in secret["Properties"]  # generated, then replaced by the operator
    assert "local-vendor-key" not in json.dumps(vendor_template.to_json())


def test_mediator_may_read_the_secret_and_put_events_on_the_default_bus_only(
    vendor_template: Template,
) -> None:
    statements = [
        s
        for p in vendor_template.find_resources("AWS::IAM::Policy").values()
        for s in p["Properties"]["PolicyDocument"]["Statement"]
    ]
    put_events = [s for s in statements if s["Action"] == "events:PutEvents"]
    assert [s["Effect"] for s in put_events] == ["Deny", "Allow"]  # any other source; its own
    assert all("event-bus/default" in json.dumps(s["Resource"]) for s in put_events)
    secret_reads = [s for s in statements if "secretsmanager:GetSecretValue" in s["Action"]]
    assert secret_reads and all("Ref" in s["Resource"] for s in secret_reads)


def test_requests_are_buffered_in_an_encrypted_queue_consumed_with_partial_batch_failures(
    vendor_template: Template,
) -> None:
    rules = vendor_template.find_resources("AWS::Events::Rule").values()
    targets = [target for rule in rules for target in rule["Properties"]["Targets"]]
    queues = vendor_template.find_resources("AWS::SQS::Queue")
    # Requests and reversals share the one buffer (one quota, one circuit).
    assert len({t["Arn"]["Fn::GetAtt"][0] for t in targets}) == 1
    assert targets[0]["Arn"]["Fn::GetAtt"][0] in queues
    vendor_template.has_resource_properties(
        "AWS::Lambda::EventSourceMapping",
        {
            "BatchSize": 5,
            "ScalingConfig": {"MaximumConcurrency": 5},
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
        },
    )
    for queue in queues.values():
        assert queue["Properties"]["SqsManagedSseEnabled"] is True


def _resource(template: Template, kind: str, logical_prefix: str) -> dict[str, Any]:
    (found,) = [r for k, r in template.find_resources(kind).items() if k.startswith(logical_prefix)]
    return found


def test_retry_horizon_queue_and_vendor_step_timing_fit_together(
    vendor_template: Template, order_template: Template
) -> None:
    """The mediator answers every request before the vendor step's heartbeat gives up on it, and
    the queue keeps a request at least until then."""
    function = _resource(vendor_template, "AWS::Lambda::Function", "Mediator")["Properties"]
    env = function["Environment"]["Variables"]
    queue = _resource(vendor_template, "AWS::SQS::Queue", "RequestsQueue")["Properties"]
    deadline = float(env["VENDOR_DEADLINE_SECONDS"])
    reconcile = float(env["VENDOR_RECONCILE_SECONDS"])
    attempts = int(env["VENDOR_ATTEMPTS_PER_DELIVERY"])
    attempt = float(env["VENDOR_CONNECT_TIMEOUT_SECONDS"]) + float(
        env["VENDOR_READ_TIMEOUT_SECONDS"]
    )
    batch = _resource(vendor_template, "AWS::Lambda::EventSourceMapping", "Mediator")["Properties"][
        "BatchSize"
    ]

    # one invocation can try every request of a batch `attempts` times, each up to its timeouts
    assert function["Timeout"] >= batch * attempts * attempt
    # AWS's guidance for SQS event sources: visibility timeout >= 6 x function timeout
    assert queue["VisibilityTimeout"] >= 6 * function["Timeout"]
    # every delivery but a crashed one puts the request back on purpose: SQS's own redrive is a
    # last resort (the mediator parks a request that keeps crashing it)
    assert queue["RedrivePolicy"]["maxReceiveCount"] == 1000

    order_machine = definition(order_template, "STANDARD")
    vendor_tasks = [
        s
        for n, s in all_states(order_machine["States"])
        if n in ("ApplyPoints", "RedeemVoucher", "RedeemReward")
    ]
    assert len(vendor_tasks) == 3
    for task in vendor_tasks:
        heartbeat, timeout = task["HeartbeatSeconds"], task["TimeoutSeconds"]
        # the answer may come at the end of the deadline and the reconciliation window, from an
        # invocation that started just before it, after as many crashed deliveries as the
        # mediator allows before it parks the request (each hides it for the visibility timeout)
        assert heartbeat >= (
            deadline
            + reconcile
            + function["Timeout"]
            + contract.MEDIATOR_MAX_CRASHES * queue["VisibilityTimeout"]
        )
        assert timeout > heartbeat
        assert queue["MessageRetentionPeriod"] > heartbeat
        assert int(env["IDEMPOTENCY_TTL_SECONDS"]) >= heartbeat


def test_the_state_table_expires_its_records(vendor_template: Template) -> None:
    vendor_template.has_resource_properties(
        "AWS::DynamoDB::Table",
        {
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
            "TimeToLiveSpecification": {"AttributeName": "expiration", "Enabled": True},
            "SSESpecification": {"SSEEnabled": True},
        },
    )


def test_unknown_outcomes_go_to_an_encrypted_queue_for_an_operator(
    vendor_template: Template,
) -> None:
    queues = vendor_template.find_resources("AWS::SQS::Queue")
    (logical_id,) = [k for k in queues if k.startswith("ReconciliationQueue")]
    props = queues[logical_id]["Properties"]
    assert props["SqsManagedSseEnabled"] is True
    assert props["MessageRetentionPeriod"] == 14 * 24 * 3600
    env = _resource(vendor_template, "AWS::Lambda::Function", "Mediator")["Properties"][
        "Environment"
    ]["Variables"]
    assert env["RECONCILIATION_QUEUE_URL"] == {"Ref": logical_id}
    vendor_template.has_resource_properties(
        "AWS::IAM::Policy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Action": Match.array_with(["sqs:SendMessage"]),
                                "Resource": Match.array_with([{"Fn::GetAtt": [logical_id, "Arn"]}]),
                            }
                        )
                    ]
                )
            }
        },
    )


def test_every_dead_letter_queue_an_operator_redrives_is_an_output_by_arn(
    vendor_template: Template, order_template: Template
) -> None:
    """`aws sqs start-message-move-task --source-arn` takes an ARN: the operating docs name
    these outputs, each the dead-letter queue of the buffer it says."""
    for template, output, buffer in (
        (vendor_template, "RequestsDeadLetterQueueArn", "Requests"),
        (order_template, "OrdersReceivedDeadLetterQueueArn", "OrdersReceivedBuffer"),
        (order_template, "VendorAnswersDeadLetterQueueArn", "VendorAnswersBuffer"),
    ):
        arn = template.find_outputs(output)[output]["Value"]
        feeding = [
            logical_id
            for logical_id, queue in template.find_resources("AWS::SQS::Queue").items()
            if queue["Properties"].get("RedrivePolicy", {}).get("deadLetterTargetArn") == arn
        ]
        assert len(feeding) == 1 and feeding[0].startswith(buffer), (output, feeding)

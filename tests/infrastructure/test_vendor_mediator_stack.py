"""The Vendor Mediator stack as synthesised."""

from __future__ import annotations

import json

from aws_cdk.assertions import Match, Template

from loyalty import contract
from tests.sample_events import load_event


def test_mediator_rule_is_seed_step_2_for_all_four_types(vendor_template: Template) -> None:
    (rule,) = vendor_template.find_resources("AWS::Events::Rule").values()
    seed = load_event("seed000_step2_pattern")
    seed["detail"]["metadata"]["type"] = [t.value for t in contract.VendorRequestType]
    assert json.dumps(rule["Properties"]["EventPattern"]) == json.dumps(seed)


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
    assert len(put_events) == 1
    assert "event-bus/default" in json.dumps(put_events[0]["Resource"])
    secret_reads = [s for s in statements if "secretsmanager:GetSecretValue" in s["Action"]]
    assert secret_reads and all("Ref" in s["Resource"] for s in secret_reads)

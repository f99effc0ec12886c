"""What a real account needs of the templates that no local run shows: shared account settings
left alone, names that do not collide, log groups where Step Functions can deliver without a
resource policy each, and a clear way out when a public parameter is missing."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk.assertions import Template

from app import ORDER_API_STACK, ORDER_PROCESSING_STACK, build_app
from stacks.config import ConfigError


def _template(context: dict[str, Any], stack: str) -> Template:
    return Template.from_stack(build_app(context).node.find_child(stack))  # type: ignore[arg-type]


def test_the_accounts_api_gateway_logging_role_is_left_alone_by_default(
    api_template: Template,
) -> None:
    assert api_template.find_resources("AWS::ApiGateway::Account") == {}
    roles = api_template.find_resources("AWS::IAM::Role")
    assert not any("apigateway.amazonaws.com" in json.dumps(r) for r in roles.values())


def test_on_request_the_logging_role_is_created_and_never_deleted_with_the_stack() -> None:
    template = _template({"loyalty:apiGatewayCloudWatchRole": True}, ORDER_API_STACK)
    (account,) = template.find_resources("AWS::ApiGateway::Account").values()
    role = account["Properties"]["CloudWatchRoleArn"]["Fn::GetAtt"][0]
    for resource in (account, template.find_resources("AWS::IAM::Role")[role]):
        assert resource["DeletionPolicy"] == "Retain"


@pytest.mark.parametrize("prefix", ["loyalty", "loyalty-dev"])
def test_the_rest_api_is_named_after_the_prefix(prefix: str) -> None:
    template = _template({"loyalty:resourcePrefix": prefix}, ORDER_API_STACK)
    (api,) = template.find_resources("AWS::ApiGateway::RestApi").values()
    assert api["Properties"]["Name"] == f"{prefix}-order-api"


def test_state_machine_log_groups_are_vended_logs(order_template: Template) -> None:
    names = {
        group["Properties"].get("LogGroupName")
        for group in order_template.find_resources("AWS::Logs::LogGroup").values()
    }
    assert {
        "/aws/vendedlogs/states/loyalty-order-processing",
        "/aws/vendedlogs/states/loyalty-step-finisher",
    } <= names
    for machine in order_template.find_resources("AWS::StepFunctions::StateMachine").values():
        (destination,) = machine["Properties"]["LoggingConfiguration"]["Destinations"]
        group = destination["CloudWatchLogsLogGroup"]["LogGroupArn"]["Fn::GetAtt"][0]
        name = order_template.find_resources("AWS::Logs::LogGroup")[group]["Properties"]
        assert name["LogGroupName"].startswith("/aws/vendedlogs/states/")


def test_the_step_finisher_reads_the_detail_type_in_the_bracket_form(
    order_template: Template,
) -> None:
    machines = order_template.find_resources("AWS::StepFunctions::StateMachine")
    definitions = [json.dumps(m["Properties"]["DefinitionString"]) for m in machines.values()]
    (finisher,) = [d for d in definitions if "FinishedOrFailed" in d]
    assert "$['detail-type']" in finisher.replace('\\\\"', '"')
    assert "$.detail-type" not in finisher


def test_the_powertools_layer_parameter_says_what_to_do_when_aws_has_not_published_it(
    order_template: Template,
) -> None:
    (parameter,) = [
        spec
        for spec in order_template.to_json()["Parameters"].values()
        if str(spec.get("Default", "")).startswith("/aws/service/powertools/")
    ]
    assert parameter["Type"] == "AWS::SSM::Parameter::Value<String>"
    assert "-c loyalty:powertoolsLayerArn=" in parameter["Description"]


def test_a_layer_arn_given_in_the_context_replaces_the_parameter() -> None:
    arn = (
        "arn:aws:lambda:eu-west-1:017000801446:layer:AWSLambdaPowertoolsPythonV3-python314-arm64:7"
    )
    template = _template({"loyalty:powertoolsLayerArn": arn}, ORDER_PROCESSING_STACK)
    assert not any(
        str(spec.get("Default", "")).startswith("/aws/service/powertools/")
        for spec in template.to_json().get("Parameters", {}).values()
    )
    for function in template.find_resources("AWS::Lambda::Function").values():
        if "Layers" in function["Properties"]:
            assert function["Properties"]["Layers"] == [arn]


def test_a_layer_arn_that_is_not_one_is_refused_by_name() -> None:
    with pytest.raises(ConfigError, match="loyalty:powertoolsLayerArn='layer-7' must match"):
        build_app({"loyalty:powertoolsLayerArn": "layer-7"})


def test_without_credentials_the_synth_is_environment_agnostic(order_template: Template) -> None:
    text = json.dumps(order_template.to_json())
    assert "000000000000" not in text and "us-east-1" not in text
    (bucket,) = order_template.find_resources("AWS::S3::Bucket").values()
    assert {"Ref": "AWS::AccountId"} in bucket["Properties"]["BucketName"]["Fn::Join"][1]


def test_the_clis_account_and_region_are_used_unless_the_context_names_others(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CDK_DEFAULT_ACCOUNT", "111122223333")
    monkeypatch.setenv("CDK_DEFAULT_REGION", "eu-west-1")
    stack = build_app({}).node.find_child(ORDER_PROCESSING_STACK)
    assert (stack.account, stack.region) == ("111122223333", "eu-west-1")  # type: ignore[attr-defined]
    stack = build_app({"loyalty:region": "eu-central-1"}).node.find_child(ORDER_PROCESSING_STACK)
    assert stack.region == "eu-central-1"  # type: ignore[attr-defined]


DEPLOYED_STATEFUL_IDS = {
    "OrdersA9B65338": "AWS::DynamoDB::Table",
    "Actions9CCA2BC5": "AWS::DynamoDB::Table",
    "OrderDocumentsEF9CBF9F": "AWS::S3::Bucket",
    "OrderDocumentsPolicy8FE2C4F4": "AWS::S3::BucketPolicy",
}
"""Written out, not imported from the stack: the logical IDs deployed stacks hold their data under.
CloudFormation replaces a resource whose logical ID changes (a new, empty table or bucket)."""


@pytest.mark.parametrize("disposable", [False, True])
def test_the_stores_resources_keep_the_logical_ids_they_were_deployed_with(
    order_template: Template, disposable: bool
) -> None:
    expected = dict(DEPLOYED_STATEFUL_IDS)
    template = order_template
    if disposable:
        template = _template({"loyalty:disposable": True}, ORDER_PROCESSING_STACK)
        # Replaced, the old one would empty the bucket as CloudFormation deleted it.
        expected["OrderDocumentsAutoDeleteObjectsCustomResource606C4A30"] = (
            "Custom::S3AutoDeleteObjects"
        )
    resources = template.to_json()["Resources"]
    stateful = {
        logical_id: resource["Type"]
        for logical_id, resource in resources.items()
        if resource["Type"] in set(expected.values())
    }
    assert stateful == expected

"""The Order API stack as synthesised: authorization, validation, throttling, access logs."""

from __future__ import annotations

import json

from aws_cdk.assertions import Match, Template

from app import ORDER_API_STACK, build_app


def test_every_method_requires_iam_authorization(api_template: Template) -> None:
    methods = api_template.find_resources("AWS::ApiGateway::Method")
    assert {(m["Properties"]["HttpMethod"]) for m in methods.values()} == {"GET", "POST"}
    assert len(methods) == 8
    for method in methods.values():
        assert method["Properties"]["AuthorizationType"] == "AWS_IAM"


def test_the_staff_list_needs_a_status_and_may_query_only_its_index(
    api_template: Template, order_template: Template
) -> None:
    api_template.has_resource_properties(
        "AWS::ApiGateway::Method",
        {
            "HttpMethod": "GET",
            "RequestParameters": {"method.request.querystring.status": True},
            "RequestValidatorId": Match.any_value(),
        },
    )
    order_template.has_resource_properties(
        "AWS::DynamoDB::Table",
        {
            "GlobalSecondaryIndexes": [
                Match.object_like(
                    {
                        "IndexName": "ByStatus",
                        "KeySchema": [
                            {"AttributeName": "status", "KeyType": "HASH"},
                            {"AttributeName": "status_since", "KeyType": "RANGE"},
                        ],
                        "Projection": Match.object_like({"ProjectionType": "INCLUDE"}),
                    }
                )
            ]
        },
    )
    policies = json.dumps(api_template.find_resources("AWS::IAM::Policy"))
    assert "/index/ByStatus" in policies
    assert "/index/*" not in policies


def test_bodies_are_validated_against_models_at_the_gateway(api_template: Template) -> None:
    posts = [
        m["Properties"]
        for m in api_template.find_resources("AWS::ApiGateway::Method").values()
        if m["Properties"]["HttpMethod"] == "POST"
    ]
    assert len(posts) == 4
    for post in posts:
        assert "RequestValidatorId" in post
        assert "application/json" in post["RequestModels"]
    api_template.has_resource_properties(
        "AWS::ApiGateway::RequestValidator",
        {"ValidateRequestBody": True, "ValidateRequestParameters": True},
    )
    api_template.has_resource_properties(
        "AWS::ApiGateway::Model",
        {
            "Schema": Match.object_like(
                {"title": "Order", "required": Match.array_with(["order_reference", "lines"])}
            )
        },
    )
    api_template.has_resource_properties(
        "AWS::ApiGateway::GatewayResponse",
        {
            "ResponseType": "BAD_REQUEST_BODY",
            "ResponseTemplates": {
                "application/json": Match.string_like_regexp("validationErrorString")
            },
        },
    )


def test_the_stage_is_throttled_traced_and_access_logged(api_template: Template) -> None:
    api_template.has_resource_properties(
        "AWS::ApiGateway::Stage",
        {
            "StageName": "v1",
            "TracingEnabled": True,
            "AccessLogSetting": Match.object_like({"DestinationArn": Match.any_value()}),
            "MethodSettings": [
                Match.object_like(
                    {"ThrottlingRateLimit": 50, "ThrottlingBurstLimit": 100, "MetricsEnabled": True}
                )
            ],
        },
    )


def test_the_api_may_resume_only_the_order_machine_and_never_sees_all_executions(
    api_template: Template,
) -> None:
    statements = [
        s
        for p in api_template.find_resources("AWS::IAM::Policy").values()
        for s in p["Properties"]["PolicyDocument"]["Statement"]
    ]
    resume = next(s for s in statements if "states:SendTaskSuccess" in s["Action"])
    assert "Fn::ImportValue" in json.dumps(resume["Resource"])  # the order machine's ARN
    # Reading executions (status, and an order's timeline): the order machine's only.
    describe = next(s for s in statements if "states:DescribeExecution" in s["Action"])
    assert describe["Action"] == ["states:DescribeExecution", "states:GetExecutionHistory"]
    assert ":execution:loyalty-order-processing:*" in json.dumps(describe["Resource"])


def test_a_cognito_user_pool_replaces_iam_when_configured() -> None:
    pool = "arn:aws:cognito-idp:us-east-1:000000000000:userpool/us-east-1_Example"
    app = build_app({"loyalty:apiCognitoUserPoolArn": pool})
    template = Template.from_stack(app.node.find_child(ORDER_API_STACK))  # type: ignore[arg-type]

    template.has_resource_properties(
        "AWS::ApiGateway::Authorizer", {"Type": "COGNITO_USER_POOLS", "ProviderARNs": [pool]}
    )
    for method in template.find_resources("AWS::ApiGateway::Method").values():
        assert method["Properties"]["AuthorizationType"] == "COGNITO_USER_POOLS"

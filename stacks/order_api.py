"""Order API: the HTTP front of the loyalty system (seed 002).

A REST API (API Gateway v1) rather than an HTTP API, because this API needs what only REST
offers: request validation against a JSON schema model at the gateway (bad bodies never reach
the function), per-stage throttling, and IAM authorization with access logs on the same stage.
One function serves every route (Powertools' REST resolver); orders go in as ``order.received``
events, like any other channel's.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Duration, RemovalPolicy, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct
from order_api.bodies import Decision, OperatorAction

from cdk_constructs import PowertoolsFunction, data_table, powertools_layer
from cdk_constructs.json_schema import request_model_schema
from cdk_constructs.nag import acknowledge
from loyalty.adapters import submissions_table
from loyalty.contract import (
    CANCEL_ACTION,
    MAX_LINES,
    MAX_REWARDS,
    MAX_VOUCHERS,
    RETRY_ACTION,
    Env,
    ServiceName,
    Source,
)
from loyalty.order_status import STATUS_INDEX
from stacks.config import LoyaltyConfig
from stacks.permissions import (
    grant_describe_order_executions,
    grant_order_documents,
    grant_table,
)
from stacks.service_bus import service_bus

ORDER_SCHEMA = apigw.JsonSchema(
    schema=apigw.JsonSchemaVersion.DRAFT4,
    title="Order",
    type=apigw.JsonSchemaType.OBJECT,
    required=["order_reference", "loyalty_reference", "merchant_reference", "currency", "lines"],
    properties={
        # Its canonical form (no surrounding whitespace, ...) is checked by the function, which
        # names the field in its 400; the gateway's validation message would not.
        "order_reference": apigw.JsonSchema(
            type=apigw.JsonSchemaType.STRING, min_length=1, max_length=64
        ),
        "loyalty_reference": apigw.JsonSchema(
            type=apigw.JsonSchemaType.STRING, min_length=1, max_length=64
        ),
        "merchant_reference": apigw.JsonSchema(
            type=apigw.JsonSchemaType.STRING, min_length=1, max_length=64
        ),
        "order_type": apigw.JsonSchema(type=apigw.JsonSchemaType.STRING),
        "currency": apigw.JsonSchema(type=apigw.JsonSchemaType.STRING, pattern="^[A-Z]{3}$"),
        "lines": apigw.JsonSchema(
            type=apigw.JsonSchemaType.ARRAY,
            min_items=1,
            max_items=MAX_LINES,
            items=apigw.JsonSchema(
                type=apigw.JsonSchemaType.OBJECT,
                required=["sku", "quantity", "unit_price"],
            ),
        ),
        "vouchers": apigw.JsonSchema(type=apigw.JsonSchemaType.ARRAY, max_items=MAX_VOUCHERS),
        "rewards": apigw.JsonSchema(type=apigw.JsonSchemaType.ARRAY, max_items=MAX_REWARDS),
    },
)


class OrderApiStack(Stack):
    """Attributes: ``api`` (the REST API), ``function``, ``idempotency_table``."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        config: LoyaltyConfig,
        orders_table: dynamodb.ITable,
        actions_table: dynamodb.ITable,
        state_machine: sfn.IStateMachine,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, id, **kwargs)
        self.bus = bus = service_bus(self, Source.ORDER_INTAKE, config.resource_prefix)

        # Orders submitted, by reference: a repeated POST /orders never puts an order twice.
        self.idempotency_table = data_table(
            self,
            "Submissions",
            partition_key=submissions_table.KEY,
            time_to_live_attribute=submissions_table.TTL_ATTRIBUTE,
            durable=False,
        )

        self.function = PowertoolsFunction(
            self,
            "OrderApi",
            handler="order_api.handler.handler",
            description="Order API: submit orders, read their status, decide on approvals",
            service_name=ServiceName.ORDER_API.value,
            metrics_namespace=config.metrics_namespace,
            layer=powertools_layer(
                self,
                powertools_version=config.powertools_version,
                layer_arn=config.powertools_layer_arn,
            ),
            timeout=Duration.seconds(10),
            environment={
                Env.LOYALTY_DOMAIN: config.domain,
                Env.ORDERS_TABLE: orders_table.table_name,
                Env.ACTIONS_TABLE: actions_table.table_name,
                Env.IDEMPOTENCY_TABLE: self.idempotency_table.table_name,
                Env.STATE_MACHINE_ARN: state_machine.state_machine_arn,
                Env.ORDERS_BUCKET: config.documents_bucket_name,
            },
        ).function
        bus.add_publisher(self.function)
        # Query: an order and its items, and the status index; UpdateItem: an approved order is
        # PROCESSING again (OrdersTable.approved, conditional on it still awaiting approval).
        grant_table(
            self.function,
            orders_table,
            ["dynamodb:Query", "dynamodb:UpdateItem"],
            indexes=[STATUS_INDEX],
        )
        actions_table.grant(
            self.function, "dynamodb:GetItem", "dynamodb:Query", "dynamodb:UpdateItem"
        )
        self.idempotency_table.grant(
            self.function,
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:UpdateItem",
            "dynamodb:DeleteItem",
        )
        grant_order_documents(
            self.function, bucket_name=config.documents_bucket_name, actions=["s3:PutObject"]
        )
        state_machine.grant_task_response(self.function)
        # An operator's re-run of a failed order is a new execution (``<reference>+<attempt>``).
        state_machine.grant_start_execution(self.function)
        # To tell "accepted, not stored yet" from "unknown" (GET /orders/{reference}).
        grant_describe_order_executions(
            self.function, state_machine_name=config.order_state_machine_name
        )

        access_logs = logs.LogGroup(
            self,
            "AccessLogs",
            retention=logs.RetentionDays.THREE_MONTHS,
            removal_policy=RemovalPolicy.DESTROY,
        )
        authorization = self._authorization(config)
        self.api = apigw.RestApi(
            self,
            "Api",
            # Named after the prefix: the 5xx alarm and the dashboard find their API by name.
            rest_api_name=f"{config.resource_prefix}-order-api",
            description="Loyalty Order API",
            endpoint_types=[apigw.EndpointType.REGIONAL],
            # The account's API Gateway logging role is shared by every REST API in the region:
            # created only on request, and never deleted with this stack.
            cloud_watch_role=config.api_gateway_cloudwatch_role,
            cloud_watch_role_removal_policy=RemovalPolicy.RETAIN
            if config.api_gateway_cloudwatch_role
            else None,
            deploy_options=apigw.StageOptions(
                stage_name="v1",
                throttling_rate_limit=config.api_rate_limit,
                throttling_burst_limit=config.api_burst_limit,
                tracing_enabled=True,
                metrics_enabled=True,
                logging_level=apigw.MethodLoggingLevel.ERROR,
                access_log_destination=apigw.LogGroupLogDestination(access_logs),
                access_log_format=apigw.AccessLogFormat.json_with_standard_fields(
                    caller=True,
                    http_method=True,
                    ip=True,
                    protocol=True,
                    request_time=True,
                    resource_path=True,
                    response_length=True,
                    status=True,
                    user=True,
                ),
            ),
            default_method_options=authorization,
        )
        # Field-level messages from the gateway's validator, not a bare "Invalid request body".
        self.api.add_gateway_response(
            "BadRequestBody",
            type=apigw.ResponseType.BAD_REQUEST_BODY,
            templates={
                "application/json": '{"message": "the request body is invalid", '
                '"errors": [{"field": "body", "message": "$context.error.validationErrorString"}]}'
            },
        )
        validator = self.api.add_request_validator(
            "Validator", validate_request_body=True, validate_request_parameters=True
        )
        order_model = self.api.add_model(
            "Order", content_type="application/json", schema=ORDER_SCHEMA
        )
        decision_model = self.api.add_model(
            "Decision", content_type="application/json", schema=request_model_schema(Decision)
        )
        operator_action_model = self.api.add_model(
            "OperatorAction",
            content_type="application/json",
            schema=request_model_schema(OperatorAction),
        )
        integration = apigw.LambdaIntegration(self.function)

        orders = self.api.root.add_resource("orders")
        orders.add_method(
            "GET",
            integration,
            request_validator=validator,
            request_parameters={"method.request.querystring.status": True},
        )
        orders.add_method(
            "POST",
            integration,
            request_validator=validator,
            request_models={"application/json": order_model},
        )
        order = orders.add_resource("{reference}")
        order.add_method("GET", integration)
        order.add_resource("events").add_method("GET", integration)
        order_actions = order.add_resource("actions")
        order_actions.add_method("GET", integration)
        # An explicit path wins over {action} in API Gateway's matching.
        for operator_action in (RETRY_ACTION, CANCEL_ACTION):
            order_actions.add_resource(operator_action).add_method(
                "POST",
                integration,
                request_validator=validator,
                request_models={"application/json": operator_action_model},
            )
        order_actions.add_resource("{action}").add_method(
            "POST",
            integration,
            request_validator=validator,
            request_models={"application/json": decision_model},
        )
        CfnOutput(self, "ApiUrl", value=self.api.url)
        self._acknowledge(config)

    def _acknowledge(self, config: LoyaltyConfig) -> None:
        acknowledge(
            self.function,
            "Serverless-LambdaDLQ",
            "Invoked synchronously by API Gateway (proxy integration); a DeadLetterConfig only "
            "applies to asynchronous invocations",
        )
        acknowledge(
            self.api,
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
            "AmazonAPIGatewayPushToCloudWatchLogs]",
            "The account-level role API Gateway uses to write execution logs; AWS documents "
            "this managed policy for it and the log groups are created by API Gateway",
        )
        acknowledge(
            self.api,
            "AwsSolutions-APIG3",
            "No WAF: every method requires IAM (SigV4) or Cognito authorization and the stage "
            "is throttled; there is no anonymous traffic for a web ACL to filter",
        )
        if not config.api_cognito_user_pool_arn:
            acknowledge(
                self.api,
                "AwsSolutions-COG4",
                "Callers are services and operators with AWS credentials: methods use IAM "
                "(SigV4) authorization. Set loyalty:apiCognitoUserPoolArn to use Cognito",
            )

    def _authorization(self, config: LoyaltyConfig) -> apigw.MethodOptions:
        """IAM (SigV4-signed requests) by default; a Cognito user pool when configured."""
        if not config.api_cognito_user_pool_arn:
            return apigw.MethodOptions(authorization_type=apigw.AuthorizationType.IAM)
        pool = cognito.UserPool.from_user_pool_arn(self, "Users", config.api_cognito_user_pool_arn)
        return apigw.MethodOptions(
            authorization_type=apigw.AuthorizationType.COGNITO,
            authorizer=apigw.CognitoUserPoolsAuthorizer(
                self, "UsersAuthorizer", cognito_user_pools=[pool]
            ),
        )

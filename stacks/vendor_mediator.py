"""Vendor Mediator: vendor requests (seed 000 step 2) → the loyalty SaaS → a task-status answer."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Duration, Stack
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from cdk_constructs import BusRule, DefaultBus, PowertoolsFunction, powertools_layer
from loyalty.contract import Env, Source, vendor_request_pattern
from stacks.config import LoyaltyConfig


class VendorMediatorStack(Stack):
    """Attributes: ``mediator`` (the function), ``api_key`` (the secret), ``requests`` (the rule
    and its dead-letter queue)."""

    def __init__(self, scope: Construct, id: str, *, config: LoyaltyConfig, **kwargs: Any) -> None:
        super().__init__(scope, id, **kwargs)
        bus = DefaultBus(self, "Bus", event_source=Source.VENDOR_MEDIATOR.value)

        if config.vendor_api_key_secret_name:
            self.api_key = secretsmanager.Secret.from_secret_name_v2(
                self, "VendorApiKey", config.vendor_api_key_secret_name
            )
            secret_id = config.vendor_api_key_secret_name
        else:
            self.api_key = secretsmanager.Secret(
                self,
                "VendorApiKey",
                description="API key of the loyalty SaaS: put the real key here after deploying",
            )
            secret_id = self.api_key.secret_arn

        self.mediator = PowertoolsFunction(
            self,
            "Mediator",
            handler="vendor_mediator.handler.handler",
            description="Calls the loyalty SaaS for vendor requests and answers with an event",
            service_name="vendor-mediator",
            metrics_namespace=config.metrics_namespace,
            layer=powertools_layer(self, powertools_version=config.powertools_version),
            timeout=Duration.seconds(60),
            environment={
                Env.LOYALTY_DOMAIN: config.domain,
                Env.VENDOR_BASE_URL: config.vendor_base_url,
                Env.VENDOR_API_KEY_SECRET_ID: secret_id,
                Env.VENDOR_CONNECT_TIMEOUT_SECONDS: str(config.vendor_connect_timeout_seconds),
                Env.VENDOR_READ_TIMEOUT_SECONDS: str(config.vendor_read_timeout_seconds),
            },
        )
        self.api_key.grant_read(self.mediator)
        self.requests: BusRule = bus.add_lambda_rule(
            "VendorRequests",
            function=self.mediator,
            event_pattern=vendor_request_pattern(config.domain),
            description="Vendor requests from order processing (seed 000 step 2)",
        )
        CfnOutput(self, "VendorApiKeySecret", value=secret_id)

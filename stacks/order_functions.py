"""How Order Processing's functions are made: one service name, metrics namespace, Powertools
layer, timeout and loyalty domain for the step workers, the order starter and the Token Handler."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from aws_cdk import Duration
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from cdk_constructs import PowertoolsFunction
from loyalty.contract import Env, ServiceName
from stacks.config import ORDER_FUNCTION_TIMEOUT_SECONDS, LoyaltyConfig


@dataclass(frozen=True)
class OrderFunctions:
    """Makes Order Processing's functions in ``scope`` (the stack: the functions keep the
    logical IDs they were deployed with)."""

    scope: Construct
    config: LoyaltyConfig
    layer: lambda_.ILayerVersion

    def function(
        self,
        id: str,
        *,
        handler: str,
        description: str,
        environment: Mapping[str, str] | None = None,
    ) -> lambda_.Function:
        return PowertoolsFunction(
            self.scope,
            id,
            handler=handler,
            description=description,
            service_name=ServiceName.ORDER_PROCESSING.value,
            metrics_namespace=self.config.metrics_namespace,
            layer=self.layer,
            timeout=Duration.seconds(ORDER_FUNCTION_TIMEOUT_SECONDS),
            environment={Env.LOYALTY_DOMAIN: self.config.domain, **(environment or {})},
        ).function

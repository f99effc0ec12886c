"""The REST APIs: recorded as ``LocalRestApi``s, then served by
``local_cloud.runtime.api_gateway``."""

from __future__ import annotations

import secrets
from typing import Any

from local_cloud.runtime.api_gateway import LocalRestApi
from local_cloud.runtime.deployer.core import Deployed, DeployerBase
from local_cloud.runtime.deployer.intrinsics import _Context


class ApiResources(DeployerBase):
    """Records the REST APIs' resources, methods, models, validators, responses and stage."""

    # -- API Gateway (REST): recorded, then served by local_cloud.runtime.api_gateway ----------

    def _create_aws_apigateway_restapi(
        self, ctx: _Context, logical_id: str, props: dict[str, Any], raw: dict[str, Any]
    ) -> Deployed:
        api_id = secrets.token_hex(5)
        api = LocalRestApi(
            api_id=api_id, name=props.get("Name", logical_id), root_id=f"{api_id}-root"
        )
        self.apis[api_id] = api
        return Deployed(
            logical_id, raw["Type"], api_id, {"RootResourceId": api.root_id}, physical=api
        )

    def _create_aws_apigateway_resource(
        self, ctx: _Context, logical_id: str, props: dict[str, Any], raw: dict[str, Any]
    ) -> Deployed:
        api = self.apis[props["RestApiId"]]
        resource_id = f"{api.api_id}-{logical_id}"
        api.resources[resource_id] = (props["ParentId"], props["PathPart"])
        return Deployed(logical_id, raw["Type"], resource_id)

    def _create_aws_apigateway_method(
        self, ctx: _Context, logical_id: str, props: dict[str, Any], raw: dict[str, Any]
    ) -> Deployed:
        api = self.apis[props["RestApiId"]]
        api.methods.append((props["ResourceId"], props["HttpMethod"], props))
        return Deployed(logical_id, raw["Type"], logical_id)

    def _create_aws_apigateway_model(
        self, ctx: _Context, logical_id: str, props: dict[str, Any], raw: dict[str, Any]
    ) -> Deployed:
        name = props.get("Name") or logical_id
        self.apis[props["RestApiId"]].models[name] = props["Schema"]
        return Deployed(logical_id, raw["Type"], name)

    def _create_aws_apigateway_requestvalidator(
        self, ctx: _Context, logical_id: str, props: dict[str, Any], raw: dict[str, Any]
    ) -> Deployed:
        validator_id = f"{props['RestApiId']}-{logical_id}"
        self.apis[props["RestApiId"]].validators[validator_id] = props
        return Deployed(logical_id, raw["Type"], validator_id)

    def _create_aws_apigateway_gatewayresponse(
        self, ctx: _Context, logical_id: str, props: dict[str, Any], raw: dict[str, Any]
    ) -> Deployed:
        self.apis[props["RestApiId"]].gateway_responses[props["ResponseType"]] = props
        return Deployed(logical_id, raw["Type"], logical_id)

    def _create_aws_apigateway_stage(
        self, ctx: _Context, logical_id: str, props: dict[str, Any], raw: dict[str, Any]
    ) -> Deployed:
        self.apis[props["RestApiId"]].stage = props["StageName"]
        return Deployed(logical_id, raw["Type"], props["StageName"])

    def _create_aws_apigateway_deployment(
        self, ctx: _Context, logical_id: str, props: dict[str, Any], raw: dict[str, Any]
    ) -> Deployed:
        return Deployed(logical_id, raw["Type"], f"{props['RestApiId']}-deployment")

    def _create_aws_apigateway_account(
        self, ctx: _Context, logical_id: str, props: dict[str, Any], raw: dict[str, Any]
    ) -> Deployed:
        return Deployed(logical_id, raw["Type"], "account")  # the CloudWatch role: no effect here

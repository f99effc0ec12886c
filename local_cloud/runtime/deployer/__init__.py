"""Deploys synthesised CloudFormation templates into moto, resource by resource.

Why not moto's CloudFormation: state machines it creates are not runnable by its ASL engine, and
Lambda functions would need their assets in S3 and Docker to run. So this walks each template in
dependency order, resolves the intrinsic functions CDK emits (``Ref``, ``Fn::GetAtt``,
``Fn::Join``, ``Fn::Sub``, ``Fn::Select``, ``Fn::Split``, ``Fn::ImportValue``, ``Fn::If`` and
pseudo parameters) and creates each resource through the service's API in moto. Lambda functions
become `LocalFunction`s that run in-process.

Roles and their policies are created in moto's IAM, and each function runs with its role's
credentials (``iam_enforcement`` checks its calls against them). Resource types with no runtime
effect locally (resource policies, permissions, alarms, dashboards) are recorded but not
created; any other unknown type stops the deploy, so a new kind of resource in the app cannot be
silently ignored by the local cloud.

One job a module: the order of deployment and the deploy itself (``orchestration``), the
deployer's state and CloudFormation's naming (``core``), the intrinsic functions
(``intrinsics``), the resources created in moto through their service's API (``moto_resources``),
the Lambda functions with their roles' credentials, invoke configs and event source mappings
(``functions``) and the REST APIs (``api``). The public names are re-exported here.
"""

from __future__ import annotations

from local_cloud.runtime.deployer.core import Deployed, DeployedStack, DeployError
from local_cloud.runtime.deployer.moto_resources import camel_case_aws_sdk
from local_cloud.runtime.deployer.orchestration import (
    NO_RUNTIME_EFFECT,
    PSEUDO_PARAMETERS,
    Deployer,
)

__all__ = [
    "NO_RUNTIME_EFFECT",
    "PSEUDO_PARAMETERS",
    "DeployError",
    "Deployed",
    "DeployedStack",
    "Deployer",
    "camel_case_aws_sdk",
]

"""A Python Lambda function with the project's defaults, from the shared `lambdas/` asset."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from aws_cdk import CfnParameter, Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from cdk_constructs.nag import acknowledge

LAMBDAS_DIR = Path(__file__).resolve().parent.parent / "lambdas"
RUNTIME = lambda_.Runtime.PYTHON_3_14
ARCHITECTURE = lambda_.Architecture.ARM_64  # ~20% cheaper per GB-second than x86_64
_ASSET_EXCLUDES = ["**/__pycache__", "**/*.pyc", "**/.mypy_cache", "**/.pytest_cache"]


def powertools_layer(
    scope: Construct, *, powertools_version: str, layer_arn: str | None = None
) -> lambda_.ILayerVersion:
    """The public Powertools for AWS Lambda (Python) layer of exactly `powertools_version`, found
    through the SSM parameter AWS publishes for it (resolved at deploy time, no lookup at synth),
    or ``layer_arn`` when given. AWS has, for some releases, not published the parameter: the
    deploy then fails with "Parameters: [<parameter>] cannot be found", and the template
    parameter's description (shown beside it) says the fix."""
    if layer_arn:
        return lambda_.LayerVersion.from_layer_version_arn(scope, "PowertoolsLayer", layer_arn)
    parameter = (
        f"/aws/service/powertools/python/{ARCHITECTURE.name}/{RUNTIME.name}/{powertools_version}"
    )
    arn = CfnParameter(
        scope,
        "PowertoolsLayerParameter",
        type="AWS::SSM::Parameter::Value<String>",
        default=parameter,
        description=(
            f"ARN of the Powertools {powertools_version} layer, from AWS's public SSM parameter "
            f"{parameter}. If the deploy says it cannot be found, AWS has not published it for "
            "this version or region: deploy with -c loyalty:powertoolsLayerArn=<the layer ARN> "
            "(see the Powertools docs), or another loyalty:powertoolsVersion."
        ),
    ).value_as_string
    return lambda_.LayerVersion.from_layer_version_arn(scope, "PowertoolsLayer", arn)


class PowertoolsFunction(Construct):
    """A Lambda function whose handler lives in `lambdas/` (the asset root, shared by all
    functions so it is uploaded once), on the latest Python runtime and arm64, with the
    Powertools layer, X-Ray tracing, JSON logs in a log group with retention, and the Powertools
    service name and metrics namespace set.

    The construct owns what the function needs in its own scope: ``log_group``, ``role`` (write
    access to that log group only) and ``function`` (the ``Resource`` child, so its logical ID
    reads as the construct's id). Pass ``function`` wherever an ``IFunction`` is wanted.

    Environment variables set: ``POWERTOOLS_SERVICE_NAME``, ``POWERTOOLS_METRICS_NAMESPACE``,
    ``POWERTOOLS_LOG_LEVEL`` plus ``environment``.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        handler: str,
        description: str,
        service_name: str,
        metrics_namespace: str,
        layer: lambda_.ILayerVersion,
        environment: Mapping[str, str] | None = None,
        timeout: Duration = Duration.seconds(30),
        memory_size: int = 256,
        log_retention: logs.RetentionDays = logs.RetentionDays.ONE_MONTH,
        log_removal_policy: RemovalPolicy = RemovalPolicy.DESTROY,
    ) -> None:
        super().__init__(scope, id)
        self.log_group = logs.LogGroup(
            self, "LogGroup", retention=log_retention, removal_policy=log_removal_policy
        )
        # Our own role instead of the AWSLambdaBasicExecutionRole managed policy (logs:* on "*"):
        # write access to this function's log group only.
        self.role = role = iam.Role(
            self,
            "ServiceRole",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"Execution role of {id}",
        )
        self.log_group.grant_write(role)
        self.function = lambda_.Function(
            self,
            "Resource",
            role=role,
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            handler=handler,
            code=lambda_.Code.from_asset(str(LAMBDAS_DIR), exclude=_ASSET_EXCLUDES),
            description=description,
            layers=[layer],
            tracing=lambda_.Tracing.ACTIVE,
            logging_format=lambda_.LoggingFormat.JSON,
            log_group=self.log_group,
            timeout=timeout,
            memory_size=memory_size,
            environment={
                "POWERTOOLS_SERVICE_NAME": service_name,
                "POWERTOOLS_METRICS_NAMESPACE": metrics_namespace,
                "POWERTOOLS_LOG_LEVEL": "INFO",
                **(environment or {}),
            },
        )
        acknowledge(
            role,
            "AwsSolutions-IAM5[Resource::*]",
            "Active X-Ray tracing: xray:PutTraceSegments and xray:PutTelemetryRecords support no "
            "resource-level permissions, so their resource must be '*'",
        )

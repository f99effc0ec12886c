"""The resources the deployer creates through their service's API in moto, as CloudFormation
would: IAM roles and policies, tables, queues, buckets, log groups, secrets, EventBridge rules and
archives, and state machines (whose definitions ``camel_case_aws_sdk`` adapts to moto)."""

from __future__ import annotations

import json
import secrets
from typing import Any

from local_cloud.runtime.deployer.core import Deployed, DeployerBase, DeployError
from local_cloud.runtime.deployer.intrinsics import _Context


class MotoResources(DeployerBase):
    """Creates the resources moto runs itself."""

    def _create_aws_iam_role(
        self, ctx: _Context, logical_id: str, props: dict[str, Any], raw: dict[str, Any]
    ) -> Deployed:
        name = props.get("RoleName") or self.physical_name(ctx.stack, logical_id, 64)
        iam = self._client("iam")
        role = iam.create_role(
            RoleName=name,
            Path=props.get("Path", "/"),
            AssumeRolePolicyDocument=json.dumps(props["AssumeRolePolicyDocument"]),
        )["Role"]
        for policy in props.get("Policies", []):
            iam.put_role_policy(
                RoleName=name,
                PolicyName=policy["PolicyName"],
                PolicyDocument=json.dumps(policy["PolicyDocument"]),
            )
        for managed in props.get("ManagedPolicyArns", []):
            try:
                iam.attach_role_policy(RoleName=name, PolicyArn=managed)
            except iam.exceptions.NoSuchEntityException as error:
                raise DeployError(
                    f"{ctx.stack}/{logical_id}: managed policy {managed} is not in moto's IAM"
                ) from error
        return Deployed(
            logical_id, raw["Type"], name, {"Arn": role["Arn"], "RoleId": role["RoleId"]}
        )

    def _create_aws_iam_policy(
        self, ctx: _Context, logical_id: str, props: dict[str, Any], raw: dict[str, Any]
    ) -> Deployed:
        if props.get("Users") or props.get("Groups"):
            raise DeployError(f"{ctx.stack}/{logical_id}: only role policies run locally")
        document = json.dumps(props["PolicyDocument"])
        for role in props.get("Roles", []):
            self._client("iam").put_role_policy(
                RoleName=role, PolicyName=props["PolicyName"], PolicyDocument=document
            )
        return Deployed(logical_id, raw["Type"], props["PolicyName"])

    def _create_aws_dynamodb_table(
        self, ctx: _Context, logical_id: str, props: dict[str, Any], raw: dict[str, Any]
    ) -> Deployed:
        name = props.get("TableName") or self.physical_name(ctx.stack, logical_id, 255)
        args: dict[str, Any] = {
            "TableName": name,
            "KeySchema": props["KeySchema"],
            "AttributeDefinitions": props["AttributeDefinitions"],
            "BillingMode": props.get("BillingMode", "PROVISIONED"),
        }
        if args["BillingMode"] == "PROVISIONED":
            args["ProvisionedThroughput"] = props.get(
                "ProvisionedThroughput", {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}
            )
        for key in ("GlobalSecondaryIndexes", "StreamSpecification"):
            if key in props:
                args[key] = props[key]
        if "SSESpecification" in props:  # CloudFormation says SSEEnabled where the API says Enabled
            sse = dict(props["SSESpecification"])
            sse["Enabled"] = bool(sse.pop("SSEEnabled", False))
            args["SSESpecification"] = sse
        dynamodb = self._client("dynamodb")
        table = dynamodb.create_table(**args)["TableDescription"]
        ttl = props.get("TimeToLiveSpecification")
        if ttl and ttl.get("Enabled"):
            dynamodb.update_time_to_live(
                TableName=name,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl["AttributeName"]},
            )
        attributes = {"Arn": table["TableArn"]}
        if "LatestStreamArn" in table:
            attributes["StreamArn"] = table["LatestStreamArn"]
        return Deployed(logical_id, raw["Type"], name, attributes)

    def _create_aws_sqs_queue(
        self, ctx: _Context, logical_id: str, props: dict[str, Any], raw: dict[str, Any]
    ) -> Deployed:
        fifo = bool(props.get("FifoQueue"))
        name = props.get("QueueName") or self.physical_name(ctx.stack, logical_id, 75)
        if fifo and not name.endswith(".fifo"):
            name += ".fifo"
        attributes = {
            key: json.dumps(value)
            if isinstance(value, dict)
            else str(value).lower()
            if isinstance(value, bool)
            else str(value)
            for key, value in props.items()
            if key not in ("QueueName", "Tags")
        }
        url = self._client("sqs").create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        arn = self.arn("sqs", name)
        return Deployed(
            logical_id, raw["Type"], url, {"Arn": arn, "QueueName": name, "QueueUrl": url}
        )

    def _create_aws_s3_bucket(
        self, ctx: _Context, logical_id: str, props: dict[str, Any], raw: dict[str, Any]
    ) -> Deployed:
        name = props.get("BucketName") or self.physical_name(ctx.stack, logical_id, 63).lower()
        s3 = self._client("s3")
        s3.create_bucket(Bucket=name)
        rules = props.get("BucketEncryption", {}).get("ServerSideEncryptionConfiguration", [])
        if rules:  # CloudFormation says ServerSideEncryptionByDefault; the API, Apply...
            s3.put_bucket_encryption(
                Bucket=name,
                ServerSideEncryptionConfiguration={
                    "Rules": [
                        {"ApplyServerSideEncryptionByDefault": r["ServerSideEncryptionByDefault"]}
                        for r in rules
                    ]
                },
            )
        return Deployed(
            logical_id,
            raw["Type"],
            name,
            {"Arn": f"arn:aws:s3:::{name}", "DomainName": f"{name}.s3.amazonaws.com"},
        )

    def _create_aws_logs_loggroup(
        self, ctx: _Context, logical_id: str, props: dict[str, Any], raw: dict[str, Any]
    ) -> Deployed:
        name = props.get("LogGroupName") or self.physical_name(ctx.stack, logical_id, 512)
        logs = self._client("logs")
        logs.create_log_group(logGroupName=name)
        if "RetentionInDays" in props:
            logs.put_retention_policy(
                logGroupName=name, retentionInDays=int(props["RetentionInDays"])
            )
        return Deployed(
            logical_id, raw["Type"], name, {"Arn": self.arn("logs", f"log-group:{name}:*")}
        )

    def _create_aws_secretsmanager_secret(
        self, ctx: _Context, logical_id: str, props: dict[str, Any], raw: dict[str, Any]
    ) -> Deployed:
        name = props.get("Name") or self.physical_name(ctx.stack, logical_id, 256)
        value = props.get("SecretString") or secrets.token_urlsafe(32)
        arn = self._client("secretsmanager").create_secret(Name=name, SecretString=value)["ARN"]
        return Deployed(logical_id, raw["Type"], arn, {"Id": arn})

    def _create_aws_events_rule(
        self, ctx: _Context, logical_id: str, props: dict[str, Any], raw: dict[str, Any]
    ) -> Deployed:
        name = props.get("Name") or self.physical_name(ctx.stack, logical_id, 64)
        bus = props.get("EventBusName", "default")
        events = self._client("events")
        args: dict[str, Any] = {
            "Name": name,
            "EventBusName": bus,
            "State": props.get("State", "ENABLED"),
        }
        if "EventPattern" in props:
            args["EventPattern"] = json.dumps(props["EventPattern"])
        if "ScheduleExpression" in props:
            args["ScheduleExpression"] = props["ScheduleExpression"]
        if "Description" in props:
            args["Description"] = props["Description"]
        arn = events.put_rule(**args)["RuleArn"]
        if props.get("Targets"):
            events.put_targets(Rule=name, EventBusName=bus, Targets=props["Targets"])
        return Deployed(logical_id, raw["Type"], name, {"Arn": arn})

    def _create_aws_events_archive(
        self, ctx: _Context, logical_id: str, props: dict[str, Any], raw: dict[str, Any]
    ) -> Deployed:
        name = props.get("ArchiveName") or self.physical_name(ctx.stack, logical_id, 48)
        args: dict[str, Any] = {"ArchiveName": name, "EventSourceArn": props["SourceArn"]}
        if "EventPattern" in props:
            args["EventPattern"] = json.dumps(props["EventPattern"])
        if "RetentionDays" in props:
            args["RetentionDays"] = int(props["RetentionDays"])
        arn = self._client("events").create_archive(**args)["ArchiveArn"]
        return Deployed(logical_id, raw["Type"], name, {"Arn": arn})

    def _create_aws_stepfunctions_activity(
        self, ctx: _Context, logical_id: str, props: dict[str, Any], raw: dict[str, Any]
    ) -> Deployed:
        name = props["Name"]
        arn = self._client("stepfunctions").create_activity(name=name)["activityArn"]
        return Deployed(logical_id, raw["Type"], arn, {"Name": name})

    def _create_aws_stepfunctions_statemachine(
        self, ctx: _Context, logical_id: str, props: dict[str, Any], raw: dict[str, Any]
    ) -> Deployed:
        name = props.get("StateMachineName") or self.physical_name(ctx.stack, logical_id, 80)
        definition = props.get("DefinitionString")
        if definition is None:
            definition = json.dumps(props["Definition"])
        for key, value in props.get("DefinitionSubstitutions", {}).items():
            definition = definition.replace("${" + key + "}", str(value))
        arn = self._client("stepfunctions").create_state_machine(
            name=name,
            definition=self._transform_definition(definition),
            roleArn=props["RoleArn"],
            type=props.get("StateMachineType", "STANDARD"),
        )["stateMachineArn"]
        return Deployed(
            logical_id, raw["Type"], arn, {"Arn": arn, "Name": name}, physical=definition
        )


def camel_case_aws_sdk(definition: str) -> str:
    """moto's ``aws-sdk:*`` integrations accept only camelCase parameter names (``taskToken``);
    AWS requires the PascalCase (``TaskToken``) the synthesised definition has. Lower-case the
    first letter of the parameter names of every aws-sdk task, recursively through states."""
    document = json.loads(definition)

    def camel(name: str) -> str:
        return name[:1].lower() + name[1:]

    def visit_states(states: dict[str, Any]) -> None:
        for state in states.values():
            resource = state.get("Resource", "")
            if ":states:::aws-sdk:" in resource and isinstance(state.get("Parameters"), dict):
                state["Parameters"] = {camel(k): v for k, v in state["Parameters"].items()}
            for branch in state.get("Branches", []):
                visit_states(branch["States"])
            for key in ("Iterator", "ItemProcessor"):
                if key in state:
                    visit_states(state[key]["States"])

    visit_states(document["States"])
    return json.dumps(document)

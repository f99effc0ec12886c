"""The Observability stack as synthesised (event log, archive, alarms, dashboard) and what the
app retains when a stack is deleted."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk.assertions import Template

from app import (
    OBSERVABILITY_STACK,
    ORDER_API_STACK,
    ORDER_PROCESSING_STACK,
    VENDOR_MEDIATOR_STACK,
    build_app,
)
from loyalty import contract
from loyalty.contract import MetricName, Source

EVERY_SOURCE = sorted(source.value for source in Source)


def _template(context: dict[str, Any], stack: str = OBSERVABILITY_STACK) -> Template:
    return Template.from_stack(build_app(context).node.find_child(stack))  # type: ignore[arg-type]


def test_every_event_of_every_service_goes_to_the_event_log_and_no_task_token_does(
    observability_template: Template,
) -> None:
    rules = {
        logical: rule["Properties"]
        for logical, rule in observability_template.find_resources("AWS::Events::Rule").items()
    }
    (log_group_id,) = observability_template.find_resources(
        "AWS::Logs::LogGroup", {"Properties": {"LogGroupName": "/loyalty/events"}}
    )
    for properties in rules.values():
        (target,) = properties["Targets"]
        assert ":log-group:" in json.dumps(target["Arn"])
        assert {"Ref": log_group_id} in target["Arn"]["Fn::Join"][1]
        assert "DeadLetterConfig" in target and "RetryPolicy" in target
    canonical = lambda p: json.dumps(p, sort_keys=True)  # noqa: E731 - CDK sorts top-level keys
    # Whole: the events without a token (every service's)...
    (whole,) = [p for p in rules.values() if "InputTransformer" not in p["Targets"][0]]
    assert canonical(whole["EventPattern"]) == canonical(contract.token_free_pattern())
    assert sorted(whole["EventPattern"]["source"]) == EVERY_SOURCE
    # ...and a summary line of each event that carries one, from paths that never reach it.
    summaries = [p for p in rules.values() if "InputTransformer" in p["Targets"][0]]
    assert sorted(canonical(p["EventPattern"]) for p in summaries) == sorted(
        canonical(pattern) for pattern, _ in contract.token_bearing().values()
    )
    for properties in summaries:
        transformer = properties["Targets"][0]["InputTransformer"]
        paths = json.dumps(transformer["InputPathsMap"])
        assert contract.TASK_TOKEN_FIELD not in paths and contract.VENDOR_TOKEN_FIELD not in paths
        template = json.loads(transformer["InputTemplate"])
        assert set(template) == {"timestamp", "message"}  # what a log group target takes
        assert len(template["message"].split(" ")) == len(contract.EVENT_SUMMARY_FIELDS)
    observability_template.has_resource_properties(
        "AWS::Logs::LogGroup", {"LogGroupName": "/loyalty/events", "RetentionInDays": 90}
    )
    # EventBridge can write to the log group only through a resource policy: one, for 3 rules
    # (an account may have 10).
    (policy,) = observability_template.find_resources("AWS::Logs::ResourcePolicy").values()
    document = json.dumps(policy["Properties"]["PolicyDocument"])
    assert "events.amazonaws.com" in document
    assert "logs:PutLogEvents" in document


def test_every_rules_dead_letter_queue_lets_eventbridge_send_to_it(
    observability_template: Template,
) -> None:
    rules = observability_template.find_resources("AWS::Events::Rule")
    policies = observability_template.find_resources("AWS::SQS::QueuePolicy")
    for logical, rule in rules.items():
        queue = rule["Properties"]["Targets"][0]["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0]
        granted = [
            statement
            for policy in policies.values()
            if {"Ref": queue} in policy["Properties"]["Queues"]
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]
            if statement.get("Principal") == {"Service": "events.amazonaws.com"}
        ]
        assert [s["Action"] for s in granted] == ["sqs:SendMessage"], logical
        assert granted[0]["Condition"]["ArnEquals"]["aws:SourceArn"] == {
            "Fn::GetAtt": [logical, "Arn"]
        }


def test_every_event_is_archived_for_replay(observability_template: Template) -> None:
    (archive,) = observability_template.find_resources("AWS::Events::Archive").values()
    properties = archive["Properties"]
    assert properties["ArchiveName"] == "loyalty-events"
    assert properties["RetentionDays"] == 365
    assert sorted(properties["EventPattern"]["source"]) == EVERY_SOURCE
    # Never a task token: a replay needs only order.received, and the tokens are closed anyway.
    canonical = lambda p: json.dumps(p, sort_keys=True)  # noqa: E731
    assert canonical(properties["EventPattern"]) == canonical(contract.token_free_pattern())
    assert "KmsKeyIdentifier" not in properties  # aws-cdk#37847 writes "" otherwise


def _alarms(template: Template) -> dict[str, dict[str, Any]]:
    return {
        logical_id: resource["Properties"]
        for logical_id, resource in template.find_resources("AWS::CloudWatch::Alarm").items()
    }


def test_alarms_cover_failures_the_circuit_and_every_dead_letter_queue(
    observability_template: Template, stacks: dict[str, Any]
) -> None:
    alarms = _alarms(observability_template)
    names = {props.get("MetricName") for props in alarms.values()}
    assert {
        "ExecutionsFailed",
        "ExecutionsTimedOut",
        MetricName.CIRCUIT_OPENED.value,
        "Errors",
        "5XXError",
    } <= names
    circuit = next(p for p in alarms.values() if p.get("MetricName") == "CircuitOpened")
    assert circuit["Namespace"] == "Loyalty"
    assert circuit["Dimensions"] == [{"Name": "service", "Value": "vendor-mediator"}]
    # What the settling step counts when a failed order's effects could not all be reversed.
    compensation = next(
        p for p in alarms.values() if p.get("MetricName") == MetricName.COMPENSATION_FAILED
    )
    # The dimensions the settling worker emits it with (a worker's metrics carry its step).
    assert compensation["Dimensions"] == [
        {"Name": "service", "Value": "order-processing"},
        {"Name": "step", "Value": "order.settle-compensation"},
    ]
    assert "actions/retry" in compensation["AlarmDescription"]

    # One alarm per dead-letter queue the app creates: count them in the other templates.
    queues = 0
    for name in (ORDER_PROCESSING_STACK, VENDOR_MEDIATOR_STACK, ORDER_API_STACK):
        for logical_id in Template.from_stack(stacks[name]).find_resources("AWS::SQS::Queue"):
            queues += "DeadLetter" in logical_id or "Dlq" in logical_id
    queues += sum(
        "DeadLetter" in logical_id or "Dlq" in logical_id
        for logical_id in observability_template.find_resources("AWS::SQS::Queue")
    )
    dlq_alarms = [
        p for p in alarms.values() if p.get("MetricName") == "ApproximateNumberOfMessagesVisible"
    ]
    assert queues > 0
    # ... and one on the operators' reconciliation queue
    assert len(dlq_alarms) == queues + 1
    for alarm in alarms.values():
        assert alarm["TreatMissingData"] == "notBreaching"
        assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
        assert "AlarmActions" not in alarm  # no topic unless loyalty:alarmEmail is set


def test_alarm_email_adds_a_topic_that_every_alarm_notifies() -> None:
    template = _template({"loyalty:alarmEmail": "oncall@example.com"})
    template.has_resource_properties(
        "AWS::SNS::Subscription", {"Protocol": "email", "Endpoint": "oncall@example.com"}
    )
    (topic_id,) = template.find_resources("AWS::SNS::Topic")
    for alarm in _alarms(template).values():
        assert alarm["AlarmActions"] == [{"Ref": topic_id}]


def test_retention_and_threshold_come_from_context() -> None:
    template = _template(
        {
            "loyalty:eventLogRetentionDays": 30,
            "loyalty:archiveRetentionDays": 30,
            "loyalty:failedExecutionsAlarmThreshold": 5,
            "loyalty:resourcePrefix": "loyalty-dev",
        }
    )
    template.has_resource_properties(
        "AWS::Logs::LogGroup", {"LogGroupName": "/loyalty-dev/events", "RetentionInDays": 30}
    )
    template.has_resource_properties(
        "AWS::Events::Archive", {"ArchiveName": "loyalty-dev-events", "RetentionDays": 30}
    )
    template.has_resource_properties(
        "AWS::CloudWatch::Alarm", {"MetricName": "ExecutionsFailed", "Threshold": 5}
    )


def test_an_unsupported_log_retention_is_refused_with_the_choices() -> None:
    with pytest.raises(ValueError, match=r"eventLogRetentionDays must be one of \[7, 14"):
        build_app({"loyalty:eventLogRetentionDays": 45})


def test_the_dashboard_shows_step_durations_and_dead_letter_queues(
    observability_template: Template,
) -> None:
    (dashboard,) = observability_template.find_resources("AWS::CloudWatch::Dashboard").values()
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    for title in ("Orders", "Step duration p99 (ms)", "Dead-letter queues", "Circuit"):
        assert title in body
    assert MetricName.STEP_DURATION.value in body
    assert "order.validate" in body


# -- what survives `cdk destroy` ----------------------------------------------------------------

RETAINED = {
    ORDER_PROCESSING_STACK: {"AWS::DynamoDB::Table": 2, "AWS::S3::Bucket": 1},
    VENDOR_MEDIATOR_STACK: {"AWS::SecretsManager::Secret": 1},
    OBSERVABILITY_STACK: {"AWS::Logs::LogGroup": 1, "AWS::Events::Archive": 1},
}


NAMED = {"AWS::S3::Bucket", "AWS::Logs::LogGroup", "AWS::Events::Archive"}
"""Retained data with a fixed name: retained except when its stack's creation fails, so a failed
first deploy (or a destroy, then a deploy) does not leave a name the next deploy fails on."""


def _retained(template: Template, resource_type: str) -> int:
    wanted = "RetainExceptOnCreate" if resource_type in NAMED else "Retain"
    return sum(
        resource.get("DeletionPolicy") == wanted and resource.get("UpdateReplacePolicy") == "Retain"
        for resource in template.find_resources(resource_type).values()
    )


@pytest.mark.parametrize("stack", sorted(RETAINED))
def test_business_records_are_retained_by_default(stacks: dict[str, Any], stack: str) -> None:
    template = Template.from_stack(stacks[stack])
    for resource_type, count in RETAINED[stack].items():
        assert _retained(template, resource_type) == count, resource_type


@pytest.mark.parametrize("stack", sorted(RETAINED))
def test_a_disposable_deployment_retains_nothing(stack: str) -> None:
    template = _template({"loyalty:disposable": True}, stack)
    for resource in template.to_json()["Resources"].values():
        assert resource.get("DeletionPolicy", "Delete") == "Delete", resource["Type"]


def test_the_disposable_flag_refuses_what_is_not_a_boolean() -> None:
    with pytest.raises(Exception, match="disposable='yes' must be true or false"):
        build_app({"loyalty:disposable": "yes"})

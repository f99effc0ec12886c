"""Observability (seed 004, part 2): what an operator watches.

* **Every event** of the system's sources goes to a CloudWatch Logs group (the event log: one
  order's path across services is one Logs Insights query away): whole when it carries no task
  token (the order lifecycle), as a one-line summary when it does (step and vendor requests and
  answers), so no log reader holds a credential to resume a task. The token-free events also go
  to an EventBridge archive (replayable: see the README); a replay needs only ``order.received``.
* **One dashboard**: orders, executions, step durations, the vendor (latency, errors, retries,
  circuit), dead-letter queues, function errors, the API.
* **Alarms** on what needs a person: failed and timed-out executions, any message in any
  dead-letter queue, the circuit opening, Token Handler errors, API 5xx; with an SNS topic (and
  an e-mail subscription) when ``loyalty:alarmEmail`` is set.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_events as events
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from cdk_constructs import event_pattern_from_dict
from cdk_constructs.nag import acknowledge
from loyalty.contract import (
    INGESTION_TIME,
    MetricName,
    OrderStep,
    ServiceName,
    Source,
    event_summary_paths,
    token_bearing,
    token_free_pattern,
)
from stacks.config import LoyaltyConfig
from stacks.order_api import OrderApiStack
from stacks.order_processing import OrderProcessingStack
from stacks.service_bus import service_bus
from stacks.vendor_mediator import VendorMediatorStack

FIVE_MINUTES = Duration.minutes(5)
RETENTION = {
    7: logs.RetentionDays.ONE_WEEK,
    14: logs.RetentionDays.TWO_WEEKS,
    30: logs.RetentionDays.ONE_MONTH,
    60: logs.RetentionDays.TWO_MONTHS,
    90: logs.RetentionDays.THREE_MONTHS,
    180: logs.RetentionDays.SIX_MONTHS,
    365: logs.RetentionDays.ONE_YEAR,
    731: logs.RetentionDays.TWO_YEARS,
}


def _retention(days: int) -> logs.RetentionDays:
    if days not in RETENTION:
        raise ValueError(f"loyalty:eventLogRetentionDays must be one of {sorted(RETENTION)}")
    return RETENTION[days]


class ObservabilityStack(Stack):
    """Attributes: ``event_log``, ``archive``, ``dashboard``, ``alarms``, ``topic`` (or None)."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        config: LoyaltyConfig,
        order_processing: OrderProcessingStack,
        vendor_mediator: VendorMediatorStack,
        order_api: OrderApiStack,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, id, **kwargs)
        self._namespace = config.metrics_namespace
        prefix = config.resource_prefix
        bus = service_bus(self, Source.ORDER_PROCESS, prefix)
        # -- a log to query and an archive to replay, neither ever holding a task token ----------
        self.event_log = logs.LogGroup(
            self,
            "EventLog",
            log_group_name=f"/{config.resource_prefix}/events",
            retention=_retention(config.event_log_retention_days),
            removal_policy=config.named_data_removal,
        )
        CfnOutput(self, "EventLogGroupName", value=self.event_log.log_group_name)
        self.event_log_rule = bus.add_log_group_rule(
            "EveryEvent",
            log_group=self.event_log,
            event_pattern=token_free_pattern(prefix),
            description="Every event of the loyalty services that carries no task token, whole",
        )
        self.event_summary_rules = [
            bus.add_log_group_rule(
                f"{family}Summaries",
                log_group=self.event_log,
                event_pattern=pattern,
                description=f"{family} (they carry task tokens): one line each, no token",
                log_event=events.RuleTargetInput.from_object(
                    {
                        # When EventBridge took the event, in milliseconds (the event's own
                        # time has whole seconds).
                        "timestamp": INGESTION_TIME,
                        "message": " ".join(
                            events.EventField.from_path(path)
                            for path in event_summary_paths(reference_path).values()
                        ),
                    }
                ),
            )
            for family, (pattern, reference_path) in token_bearing(prefix).items()
        ]
        self.archive = events.Archive(
            self,
            "EventArchive",
            archive_name=f"{config.resource_prefix}-events",
            source_event_bus=bus.bus,
            event_pattern=event_pattern_from_dict(token_free_pattern(prefix)),
            retention=Duration.days(config.archive_retention_days),
            description="Every event of the loyalty services without a task token, for replay",
        )
        # aws-cdk#37847: without a key the L2 writes KmsKeyIdentifier "" (not a valid value; some
        # regions refuse it). Absent means the AWS-owned key, which is what we want.
        cfn_archive = self.archive.node.default_child
        assert isinstance(cfn_archive, events.CfnArchive)
        cfn_archive.add_property_deletion_override("KmsKeyIdentifier")
        # The archive is the replay source of every order: as durable as the orders table.
        cfn_archive.apply_removal_policy(config.named_data_removal)
        CfnOutput(self, "EventArchiveArn", value=self.archive.archive_arn)

        # -- alarms ------------------------------------------------------------------------------
        machine = order_processing.state_machine
        self.alarms: list[cloudwatch.Alarm] = [
            self._alarm(
                "FailedExecutions",
                machine.metric_failed(period=FIVE_MINUTES, statistic="Sum"),
                threshold=config.failed_executions_alarm_threshold,
                description="Orders ended FAILED (invalid orders included): see order.failed",
            ),
            self._alarm(
                "TimedOutExecutions",
                machine.metric_timed_out(period=FIVE_MINUTES, statistic="Sum"),
                description="An order ran past the execution timeout",
            ),
            self._alarm(
                "CompensationFailed",
                self._metric(
                    ServiceName.ORDER_PROCESSING,
                    MetricName.COMPENSATION_FAILED,
                    step=OrderStep.SETTLE_COMPENSATION,  # a worker's metrics carry its step
                ),
                description="A failed order's applied effects could not all be reversed: the "
                "order is COMPENSATION_FAILED; once the cause is gone, POST "
                "/orders/{reference}/actions/retry finishes the reversals (README, Operating)",
            ),
            self._alarm(
                "CircuitOpen",
                self._metric(ServiceName.VENDOR_MEDIATOR, MetricName.CIRCUIT_OPENED),
                description="The vendor circuit opened: the vendor is failing, requests wait",
            ),
            self._alarm(
                "TokenHandlerErrors",
                order_processing.token_handler.metric_errors(period=FIVE_MINUTES, statistic="Sum"),
                description="The Token Handler failed: vendor answers may not resume orders",
            ),
            self._alarm(
                "Api5xx",
                order_api.api.metric_server_error(period=FIVE_MINUTES, statistic="Sum"),
                description="The Order API answered 5xx",
            ),
        ]
        self.alarms.append(
            self._alarm(
                "OrdersNeedReconciliation",
                vendor_mediator.reconciliation_queue.metric_approximate_number_of_messages_visible(
                    period=Duration.minutes(1), statistic="Maximum"
                ),
                description="A vendor effect's outcome is unknown: reconcile the request in "
                "ReconciliationQueue with the vendor (README, Operating)",
            )
        )
        dead_letter_queues = [
            *bus.dead_letter_queues,
            *order_processing.bus.dead_letter_queues,
            *vendor_mediator.bus.dead_letter_queues,
            *order_api.bus.dead_letter_queues,
            vendor_mediator.buffer.dead_letter_queue,
            order_processing.orders_received_buffer.dead_letter_queue,
            order_processing.vendor_answers_buffer.dead_letter_queue,
        ]
        for queue in dead_letter_queues:
            self.alarms.append(
                self._alarm(
                    "DeadLetters" + queue.node.path.replace("/", ""),
                    queue.metric_approximate_number_of_messages_visible(
                        period=Duration.minutes(1), statistic="Maximum"
                    ),
                    description=f"Messages in {queue.node.path}: see the README on dead letters",
                )
            )
        self.topic: sns.Topic | None = None
        if config.alarm_email:
            self.topic = sns.Topic(self, "Alarms", enforce_ssl=True)
            subscription = subscriptions.EmailSubscription(config.alarm_email)
            self.topic.add_subscription(subscription)
            acknowledge(
                self.topic,
                "Serverless-SNSRedrivePolicy",
                "An e-mail subscription for alarm notifications: an undeliverable notification "
                "is still visible as the alarm's state in CloudWatch, no dead-letter queue needed",
            )
            acknowledge(
                self.topic,
                "AwsSolutions-SNS2",
                "Alarm notifications carry alarm names and states only, no order data; "
                "encrypting them with a KMS key would protect nothing",
            )
            for alarm in self.alarms:
                alarm.add_alarm_action(actions.SnsAction(self.topic))

        # -- the dashboard -------------------------------------------------------------------------
        self.dashboard = cloudwatch.Dashboard(
            self, "Dashboard", dashboard_name=f"{config.resource_prefix}-orders"
        )
        step_dimensions = [
            (step, self._metric(ServiceName.ORDER_PROCESSING, MetricName.STEP_DURATION, step=step))
            for step in OrderStep
            if step is not OrderStep.AWAIT_APPROVAL  # answered by a person: no worker duration
        ]
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Orders",
                left=[
                    self._metric(
                        ServiceName.ORDER_PROCESSING,
                        MetricName.ORDER_COMPLETED,
                        step=OrderStep.COMPLETE,
                    ),
                    self._metric(
                        ServiceName.ORDER_PROCESSING,
                        MetricName.ORDER_FAILED,
                        step=OrderStep.RECORD_FAILURE,
                    ),
                    self._metric(
                        ServiceName.ORDER_PROCESSING,
                        MetricName.ORDER_REJECTED,
                        step=OrderStep.RECORD_REJECTION,
                    ),
                ],
                width=12,
            ),
            cloudwatch.GraphWidget(
                title="Executions",
                left=[
                    machine.metric_started(period=FIVE_MINUTES),
                    machine.metric_succeeded(period=FIVE_MINUTES),
                    machine.metric_failed(period=FIVE_MINUTES),
                    machine.metric_timed_out(period=FIVE_MINUTES),
                ],
                width=12,
            ),
        )
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Step duration p99 (ms)",
                left=[
                    metric.with_(statistic="p99", label=step.value)
                    for step, metric in step_dimensions
                ],
                width=12,
            ),
            cloudwatch.GraphWidget(
                title="Vendor latency (ms)",
                left=[
                    self._metric(ServiceName.VENDOR_MEDIATOR, MetricName.VENDOR_LATENCY).with_(
                        statistic=statistic, label=statistic
                    )
                    for statistic in ("p50", "p99")
                ],
                width=12,
            ),
        )
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Vendor calls, errors, retries",
                left=[
                    self._metric(ServiceName.VENDOR_MEDIATOR, name)
                    for name in (
                        MetricName.VENDOR_CALLS,
                        MetricName.VENDOR_ERRORS,
                        MetricName.VENDOR_RETRIES,
                        MetricName.REQUEUED,
                        MetricName.VENDOR_THROTTLED,
                        MetricName.INVALID_REQUEST,
                    )
                ],
                width=12,
            ),
            cloudwatch.GraphWidget(
                title="Circuit",
                left=[
                    self._metric(ServiceName.VENDOR_MEDIATOR, MetricName.CIRCUIT_OPENED),
                    self._metric(ServiceName.VENDOR_MEDIATOR, MetricName.CIRCUIT_CLOSED),
                ],
                width=12,
            ),
        )
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Dead-letter queues (messages)",
                left=[self._depth(queue) for queue in dead_letter_queues],
                width=12,
            ),
            cloudwatch.GraphWidget(
                title="Order API",
                left=[
                    order_api.api.metric_count(period=FIVE_MINUTES),
                    order_api.api.metric_client_error(period=FIVE_MINUTES),
                    order_api.api.metric_server_error(period=FIVE_MINUTES),
                ],
                right=[order_api.api.metric_latency(period=FIVE_MINUTES, statistic="p99")],
                width=12,
            ),
        )

    def _metric(
        self, service: ServiceName, name: MetricName, *, step: OrderStep | None = None
    ) -> cloudwatch.Metric:
        dimensions = {"service": service.value, **({"step": step.value} if step else {})}
        return cloudwatch.Metric(
            namespace=self._namespace,
            metric_name=name.value,
            dimensions_map=dimensions,
            period=FIVE_MINUTES,
            statistic="Sum",
        )

    @staticmethod
    def _depth(queue: sqs.IQueue) -> cloudwatch.IMetric:
        return queue.metric_approximate_number_of_messages_visible(
            period=Duration.minutes(1), statistic="Maximum", label=queue.node.path
        )

    def _alarm(
        self, id: str, metric: cloudwatch.IMetric, *, description: str, threshold: float = 1
    ) -> cloudwatch.Alarm:
        return cloudwatch.Alarm(
            self,
            id,
            metric=metric,
            threshold=threshold,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            alarm_description=description,
        )

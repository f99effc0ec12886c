"""Vendor Mediator: vendor requests (seed 000 step 2) → a buffer queue → the mediator, which
calls the loyalty SaaS within its quota, through a shared circuit breaker, and answers every
request with a task-status event (seed 000 step 3)."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Duration, RemovalPolicy, Stack
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from cdk_constructs import (
    BusRule,
    PowertoolsFunction,
    QueueConsumer,
    data_table,
    powertools_layer,
)
from cdk_constructs.nag import acknowledge
from loyalty.contract import (
    REVERSAL_TYPES,
    Env,
    ServiceName,
    Source,
    vendor_request_pattern,
)
from stacks.config import LoyaltyConfig
from stacks.service_bus import service_bus


class VendorMediatorStack(Stack):
    """Attributes: ``mediator`` (the function), ``api_key`` (the secret), ``state_table``
    (circuit, quota and idempotency records), ``buffer`` (queue and DLQ), ``requests`` (the
    rule)."""

    def __init__(self, scope: Construct, id: str, *, config: LoyaltyConfig, **kwargs: Any) -> None:
        super().__init__(scope, id, **kwargs)
        timing = config.mediator
        self.bus = bus = service_bus(self, Source.VENDOR_MEDIATOR, config.resource_prefix)

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
                removal_policy=RemovalPolicy.RETAIN,  # the operator put a real key in it
            )
            secret_id = self.api_key.secret_arn
            acknowledge(
                self.api_key,
                "AwsSolutions-SMG4",
                "The loyalty SaaS issues this API key; it has no API to mint a new one, so a "
                "rotation Lambda has nothing to call. The operator rotates it with the vendor",
            )

        # Short-lived coordination state shared by all consumers; nothing here outlives a day.
        self.state_table = data_table(
            self,
            "MediatorState",
            partition_key="pk",
            time_to_live_attribute="expiration",
            durable=False,
        )

        self.mediator = PowertoolsFunction(
            self,
            "Mediator",
            handler="vendor_mediator.handler.handler",
            description="Calls the loyalty SaaS for vendor requests and answers with an event",
            service_name=ServiceName.VENDOR_MEDIATOR.value,
            metrics_namespace=config.metrics_namespace,
            layer=powertools_layer(
                self,
                powertools_version=config.powertools_version,
                layer_arn=config.powertools_layer_arn,
            ),
            timeout=Duration.seconds(timing.function_timeout_seconds),
            environment={
                Env.LOYALTY_DOMAIN: config.domain,
                Env.VENDOR_BASE_URL: config.vendor_base_url,
                Env.VENDOR_API_KEY_SECRET_ID: secret_id,
                Env.VENDOR_CONNECT_TIMEOUT_SECONDS: str(timing.connect_timeout_seconds),
                Env.VENDOR_READ_TIMEOUT_SECONDS: str(timing.read_timeout_seconds),
                Env.VENDOR_REQUESTS_PER_SECOND: str(timing.requests_per_second),
                Env.VENDOR_ATTEMPTS_PER_DELIVERY: str(timing.attempts_per_delivery),
                Env.VENDOR_RETRY_BASE_SECONDS: str(timing.retry_base_seconds),
                Env.VENDOR_RETRY_MAX_SECONDS: str(timing.retry_max_seconds),
                Env.VENDOR_DEADLINE_SECONDS: str(timing.deadline_seconds),
                Env.VENDOR_RECONCILE_SECONDS: str(timing.reconcile_seconds),
                Env.VENDOR_JOB_POLL_SECONDS: str(timing.job_poll_seconds),
                Env.VENDOR_JOB_TIMEOUT_SECONDS: str(timing.job_timeout_seconds),
                Env.CIRCUIT_FAILURE_RATE: str(timing.circuit_failure_rate),
                Env.CIRCUIT_MIN_REQUESTS: str(timing.circuit_min_requests),
                Env.CIRCUIT_WINDOW_SECONDS: str(timing.circuit_window_seconds),
                Env.CIRCUIT_COOLDOWN_SECONDS: str(timing.circuit_cooldown_seconds),
                Env.IDEMPOTENCY_TTL_SECONDS: str(timing.idempotency_ttl_seconds),
                Env.MEDIATOR_STATE_TABLE: self.state_table.table_name,
            },
        ).function
        bus.add_publisher(self.mediator)
        self.api_key.grant_read(self.mediator)
        self.state_table.grant(
            self.mediator,
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:UpdateItem",
            "dynamodb:DeleteItem",
        )

        self.buffer = QueueConsumer(
            self,
            "Requests",
            function=self.mediator,
            batch_size=timing.batch_size,
            max_concurrency=timing.max_concurrency,
            visibility_timeout=Duration.seconds(timing.visibility_timeout_seconds),
            retention_period=Duration.seconds(timing.queue_retention_seconds),
            max_receive_count=timing.max_receive_count,
            queue_url_env=Env.REQUESTS_QUEUE_URL,
            dead_letter_queue_url_env=Env.REQUESTS_DEAD_LETTER_QUEUE_URL,
        )
        # Requests whose outcome the vendor could not tell in time: an operator's work list
        # (read by people, alarmed on in the observability stack), never consumed by code.
        self.reconciliation_queue = sqs.Queue(
            self,
            "ReconciliationQueue",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )
        reason = (
            "An operator's work queue of requests whose vendor outcome is unknown, read by "
            "people and alarmed on; a dead-letter queue behind it would only hide work"
        )
        acknowledge(self.reconciliation_queue, "AwsSolutions-SQS3", reason)
        acknowledge(self.reconciliation_queue, "Serverless-SQSRedrivePolicy", reason)
        self.reconciliation_queue.grant_send_messages(self.mediator)
        self.mediator.add_environment(
            Env.RECONCILIATION_QUEUE_URL, self.reconciliation_queue.queue_url
        )

        self.requests: BusRule = bus.add_queue_rule(
            "VendorRequests",
            queue=self.buffer.queue,
            event_pattern=vendor_request_pattern(config.domain, prefix=config.resource_prefix),
            description="Vendor requests from order processing (seed 000 step 2) to the buffer",
        )
        # Seed 000's rule stays byte for byte; a compensation's reversals have their own.
        self.reversal_requests: BusRule = bus.add_queue_rule(
            "VendorReversalRequests",
            queue=self.buffer.queue,
            event_pattern=vendor_request_pattern(
                config.domain, types=REVERSAL_TYPES, prefix=config.resource_prefix
            ),
            description="Reversals of a failed order's effects (compensation) to the buffer",
        )
        CfnOutput(self, "VendorApiKeySecret", value=secret_id)
        CfnOutput(self, "RequestsQueueUrl", value=self.buffer.queue.queue_url)
        CfnOutput(self, "RequestsDeadLetterQueueUrl", value=self.buffer.dead_letter_queue.queue_url)
        # A redrive names its source by ARN: `start-message-move-task --source-arn <this>`.
        CfnOutput(self, "RequestsDeadLetterQueueArn", value=self.buffer.dead_letter_queue.queue_arn)
        CfnOutput(self, "MediatorStateTableName", value=self.state_table.table_name)
        CfnOutput(self, "ReconciliationQueueUrl", value=self.reconciliation_queue.queue_url)

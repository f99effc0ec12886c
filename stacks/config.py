"""Deploy-time configuration: cdk.json context, read once into a typed object.

Every key is ``loyalty:<name>``; override any of them with ``cdk synth -c loyalty:<name>=<value>``.
A bad value fails the synth with a message that names the key.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol

from aws_cdk import Aws, Duration, RemovalPolicy

from cdk_constructs import WaitPolicy
from loyalty.backoff import MAX_IN_INVOCATION_WAIT_SECONDS, Backoff
from loyalty.contract import (
    DEFAULT_DOMAIN,
    MEDIATOR_MAX_CRASHES,
    METRICS_NAMESPACE_DEFAULT,
    PartialFailurePolicy,
)

PREFIX = "loyalty:"


class ContextReader(Protocol):
    def try_get_context(self, key: str) -> Any: ...


class ConfigError(ValueError):
    pass


SQS_MAX_RECEIVE_COUNT = 1000
SQS_MAX_VISIBILITY_SECONDS = 12 * 3600
ANSWER_MARGIN_SECONDS = 60


@dataclass(frozen=True)
class MediatorConfig:
    """How the Vendor Mediator treats the vendor, and every duration that follows from it.

    This is the one place where the mediator's retry horizon, the queue and the waiting vendor
    step are related; the construct tests assert the synthesised values keep these relations.
    """

    requests_per_second: float
    """The vendor's quota, shared by all consumers."""
    max_concurrency: int
    """Concurrent consumer invocations (event source mapping MaximumConcurrency, 2..1000)."""
    batch_size: int
    connect_timeout_seconds: float
    read_timeout_seconds: float
    attempts_per_delivery: int
    """Calls made in one invocation before the request goes back to the queue."""
    retry_base_seconds: float
    retry_max_seconds: int
    """Cap of the exponential backoff (in-invocation and between deliveries)."""
    deadline_seconds: int
    """How long a request may wait through vendor trouble (counted from the vendor's first
    failure for it) before it is answered ``VendorUnavailable``."""
    reconcile_seconds: int
    """How much longer a request whose outcome is in doubt (an answer lost after the vendor may
    have applied it) is asked again before it is answered ``VendorOutcomeUnknown`` and parked for
    an operator."""
    job_poll_seconds: int
    """How often the vendor is asked about an asynchronous job (a ``202 Accepted``)."""
    job_timeout_seconds: int
    """How long a vendor job may run before the request is answered ``VendorOutcomeUnknown``
    (the job may still finish) and parked for an operator."""
    circuit_failure_rate: float
    circuit_min_requests: int
    circuit_window_seconds: int
    circuit_cooldown_seconds: int

    def __post_init__(self) -> None:
        problems = []
        if not 2 <= self.max_concurrency <= 1000:
            problems.append("vendorMaxConcurrency must be 2..1000 (an SQS event source limit)")
        if not 1 <= self.batch_size <= 10:
            problems.append("vendorBatchSize must be 1..10")
        if self.attempts_per_delivery < 1:
            problems.append("vendorAttemptsPerDelivery must be >= 1")
        if not 0 < self.circuit_failure_rate <= 1:
            problems.append("vendorCircuitFailureRate must be in (0, 1]")
        if self.requests_per_second <= 0:
            problems.append("vendorRequestsPerSecond must be > 0")
        if not 1 <= self.job_poll_seconds <= SQS_MAX_VISIBILITY_SECONDS:
            problems.append("vendorJobPollSeconds must be 1..43200 (it is an SQS visibility delay)")
        if self.job_timeout_seconds < self.job_poll_seconds:
            problems.append("vendorJobTimeoutSeconds must be at least vendorJobPollSeconds")
        if self.visibility_timeout_seconds > SQS_MAX_VISIBILITY_SECONDS:
            problems.append("batch size x attempts x timeouts exceed the SQS visibility limit")
        if problems:
            raise ConfigError("; ".join(problems))

    @property
    def attempt_seconds(self) -> float:
        return self.connect_timeout_seconds + self.read_timeout_seconds

    @property
    def backoff(self) -> Backoff:
        return Backoff(base_seconds=self.retry_base_seconds, cap_seconds=self.retry_max_seconds)

    @property
    def delivery_budget_seconds(self) -> float:
        """Worst case for one request in one invocation: every attempt waits out a short vendor
        pause and the shared quota, then times out, with the longest backoff between attempts."""
        waits = sum(self.backoff.ceiling(i) for i in range(self.attempts_per_delivery - 1))
        per_attempt = self.attempt_seconds + 2 * MAX_IN_INVOCATION_WAIT_SECONDS
        return self.attempts_per_delivery * per_attempt + waits

    @property
    def function_timeout_seconds(self) -> int:
        return math.ceil(self.batch_size * self.delivery_budget_seconds) + 5

    @property
    def visibility_timeout_seconds(self) -> int:
        """AWS's guidance for SQS event sources: at least six times the function timeout."""
        return 6 * self.function_timeout_seconds

    @property
    def max_receive_count(self) -> int:
        """Deliveries before SQS itself moves a request to the DLQ: as many as SQS allows. The
        mediator parks a message whose deliveries keep crashing on its own, with the reason
        (``MEDIATOR_MAX_CRASHES``); every other delivery puts the request back on purpose."""
        return SQS_MAX_RECEIVE_COUNT

    @property
    def answer_horizon_seconds(self) -> int:
        """Latest answer to a request: a vendor job that runs to its timeout, then (counted from
        the vendor's first failure) the deadline and the reconciliation window, an invocation
        that started just before their end, the deliveries that may crash before the mediator
        parks the request (each hides it for the visibility timeout), plus a margin."""
        return (
            self.job_timeout_seconds
            + self.job_poll_seconds
            + self.deadline_seconds
            + self.reconcile_seconds
            + self.function_timeout_seconds
            + MEDIATOR_MAX_CRASHES * self.visibility_timeout_seconds
            + ANSWER_MARGIN_SECONDS
        )

    @property
    def queue_retention_seconds(self) -> int:
        """Requests are never dropped by age before they are answered or dead-lettered."""
        return max(4 * 24 * 3600, 2 * self.answer_horizon_seconds)

    @property
    def idempotency_ttl_seconds(self) -> int:
        """Duplicates of a request can arrive for as long as it may be redelivered."""
        return self.answer_horizon_seconds


ORDER_FUNCTION_TIMEOUT_SECONDS = 30
"""Every order-processing function's timeout (a worker, the order starter, the token handler:
a few AWS calls per event)."""


@dataclass(frozen=True)
class BufferConfig:
    """The SQS buffers in front of the order starter and the token handler
    (``loyalty.adapters.event_buffer``): how long a throttled ``StartExecution`` or
    ``SendTaskSuccess`` is retried before its event is dead-lettered."""

    retry_base_seconds: float
    retry_max_seconds: int
    """Cap of the backoff between a failed event's receives."""
    max_receive_count: int
    """Receives before SQS moves an event to the dead-letter queue."""
    max_concurrency: int
    """Concurrent invocations of each buffered function (MaximumConcurrency, 2..1000)."""
    batch_size: int = 10

    def __post_init__(self) -> None:
        problems = []
        if not 2 <= self.max_concurrency <= 1000:
            problems.append("bufferMaxConcurrency must be 2..1000 (an SQS event source limit)")
        if not 1 <= self.max_receive_count <= SQS_MAX_RECEIVE_COUNT:
            problems.append(f"bufferMaxReceiveCount must be 1..{SQS_MAX_RECEIVE_COUNT}")
        if not 0 < self.retry_base_seconds <= self.retry_max_seconds <= SQS_MAX_VISIBILITY_SECONDS:
            problems.append(
                "bufferRetryBaseSeconds must be > 0 and <= bufferRetryMaxSeconds <= 43200 (the "
                "SQS visibility limit)"
            )
        if problems:
            raise ConfigError("; ".join(problems))

    @property
    def backoff(self) -> Backoff:
        return Backoff(base_seconds=self.retry_base_seconds, cap_seconds=self.retry_max_seconds)

    @property
    def function_timeout_seconds(self) -> int:
        return ORDER_FUNCTION_TIMEOUT_SECONDS

    @property
    def visibility_timeout_seconds(self) -> int:
        """AWS's guidance for SQS event sources: at least six times the function timeout (a
        failed event is hidden for its backoff instead; this is for a crashed invocation)."""
        return 6 * self.function_timeout_seconds

    @property
    def retry_horizon_seconds(self) -> int:
        """The shortest time an event that keeps failing is retried before it is dead-lettered:
        the event is hidden for at least half its backoff ceiling after each failed receive."""
        hides = (max(1, self.backoff.ceiling(i) / 2) for i in range(self.max_receive_count - 1))
        return math.floor(sum(hides))


@dataclass(frozen=True)
class LoyaltyConfig:
    account: str | None
    """``loyalty:account``, else the CLI's (``CDK_DEFAULT_ACCOUNT``); None: an environment-agnostic
    synth, whose templates name ``AWS::AccountId`` and deploy to whatever account the deploying
    credentials are in (never a made-up account baked in)."""
    region: str | None
    """``loyalty:region``, else the CLI's (``CDK_DEFAULT_REGION``); None: ``AWS::Region``."""
    resource_prefix: str
    """Prefix of the few resources with fixed names (so other stacks need no import)."""
    disposable: bool
    """A development deployment: every resource, data included, goes with ``cdk destroy``.
    Off by default: orders, actions, documents and the vendor key are retained."""
    api_gateway_cloudwatch_role: bool
    """Create API Gateway's account-wide CloudWatch Logs role (``AWS::ApiGateway::Account``) with
    this app. Off by default: it is one setting per account and region, shared by every REST
    API there; most accounts have it already. When on, the role is retained on destroy, so
    removing this app never breaks the logging of the others."""
    domain: str
    """``metadata.domain`` of every vendor event (seed 000: LEGO-LOYALTY)."""
    powertools_version: str
    """Version of the public Powertools layer; equal to aws-lambda-powertools in
    requirements-dev.txt, so the code is tested against what runs in Lambda."""
    powertools_layer_arn: str | None
    """The layer's ARN, when AWS's SSM parameter for it is missing (it has been, for some
    releases and regions): used as is instead of the parameter."""
    metrics_namespace: str
    points_per_currency_unit: Decimal
    vendor_base_url: str
    vendor_api_key_secret_name: str | None
    """Existing Secrets Manager secret holding the vendor API key; None creates one to fill in."""
    mediator: MediatorConfig
    buffers: BufferConfig
    worker_wait: WaitPolicy
    vendor_step_retries: int
    voucher_concurrency: int
    """Vouchers (and rewards) of one order redeemed in parallel (Map MaxConcurrency)."""
    execution_timeout: Duration
    approval_return_threshold: Decimal
    """Returns with a net amount above this wait for a person's approval."""
    approval_timeout: Duration
    """How long an order waits for a person before it is rejected."""
    api_rate_limit: float
    api_burst_limit: int
    api_cognito_user_pool_arn: str | None
    """When set, the Order API uses this Cognito user pool instead of IAM authorization."""
    alarm_email: str | None
    """When set, alarms notify this address through an SNS topic."""
    event_log_retention_days: int
    archive_retention_days: int
    failed_executions_alarm_threshold: int
    on_partial_failure: PartialFailurePolicy = PartialFailurePolicy.COMPENSATE
    """What happens to what a failed order applied: reversed (``compensate``) or left."""

    def __post_init__(self) -> None:
        # The vendor phase, and a compensation's reversals after it.
        vendor_phases = 2 if self.on_partial_failure is PartialFailurePolicy.COMPENSATE else 1
        longest_wait = self.approval_timeout.to_seconds() + vendor_phases * (
            (1 + self.vendor_step_retries) * 2 * self.mediator.answer_horizon_seconds
        )
        if self.execution_timeout.to_seconds() <= longest_wait:
            raise ConfigError(
                f"{PREFIX}executionTimeoutSeconds must exceed the approval timeout plus the "
                f"vendor steps' waits ({longest_wait:.0f} s), or orders time out while waiting"
            )

    @property
    def documents_bucket_name(self) -> str:
        """The claim-check bucket: S3 names are global, so account and region are in it."""
        account = self.account or Aws.ACCOUNT_ID
        region = self.region or Aws.REGION
        return f"{self.resource_prefix}-order-documents-{account}-{region}"

    @property
    def named_data_removal(self) -> RemovalPolicy:
        """Removal policy of retained data with a fixed name (the documents bucket, the event log,
        the archive): kept on update and delete, but not when the stack's creation fails (retain
        except on create), so a failed first deploy does not leave a name behind that the next
        one fails on ("already exists"). ``disposable``: destroyed with the stack."""
        return (
            RemovalPolicy.DESTROY if self.disposable else RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE
        )

    @property
    def order_state_machine_name(self) -> str:
        return f"{self.resource_prefix}-order-processing"

    @property
    def approval_wait(self) -> WaitPolicy:
        """Nobody sends heartbeats for a person: the heartbeat is the approval deadline."""
        return WaitPolicy(
            heartbeat=self.approval_timeout,
            timeout=Duration.seconds(self.approval_timeout.to_seconds() + 60),
            retries=0,
        )

    @property
    def vendor_wait(self) -> WaitPolicy:
        """A vendor step waits exactly as long as the mediator may take to answer."""
        horizon = self.mediator.answer_horizon_seconds
        return WaitPolicy(
            heartbeat=Duration.seconds(horizon),
            timeout=Duration.seconds(2 * horizon),
            retries=self.vendor_step_retries,
        )

    @classmethod
    def from_context(cls, node: ContextReader) -> LoyaltyConfig:
        ctx = _Context(node)
        return cls(
            account=ctx.optional_text("account", pattern=r"\d{12}")
            or os.environ.get("CDK_DEFAULT_ACCOUNT"),
            region=ctx.optional_text("region", pattern=r"[a-z]{2}(-[a-z]+)+-\d")
            or os.environ.get("CDK_DEFAULT_REGION"),
            resource_prefix=ctx.text(
                "resourcePrefix", "loyalty", pattern=r"(?=.{2,21}$)[a-z][a-z0-9]*(-[a-z0-9]+)*"
            ),
            disposable=ctx.flag("disposable"),
            api_gateway_cloudwatch_role=ctx.flag("apiGatewayCloudWatchRole"),
            domain=ctx.text("domain", DEFAULT_DOMAIN),
            powertools_version=ctx.text("powertoolsVersion", pattern=r"\d+\.\d+\.\d+"),
            powertools_layer_arn=ctx.optional_text(
                "powertoolsLayerArn",
                pattern=r"arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:layer:[\w-]+:\d+",
            ),
            metrics_namespace=ctx.text("metricsNamespace", METRICS_NAMESPACE_DEFAULT),
            points_per_currency_unit=ctx.decimal("pointsPerCurrencyUnit", "1"),
            vendor_base_url=ctx.text("vendorBaseUrl", pattern=r"https?://\S+"),
            vendor_api_key_secret_name=ctx.optional_text("vendorApiKeySecretName"),
            mediator=MediatorConfig(
                requests_per_second=ctx.number("vendorRequestsPerSecond", 10),
                max_concurrency=int(ctx.number("vendorMaxConcurrency", 5)),
                batch_size=int(ctx.number("vendorBatchSize", 5)),
                connect_timeout_seconds=ctx.number("vendorConnectTimeoutSeconds", 2),
                read_timeout_seconds=ctx.number("vendorReadTimeoutSeconds", 5),
                attempts_per_delivery=int(ctx.number("vendorAttemptsPerDelivery", 2)),
                retry_base_seconds=ctx.number("vendorRetryBaseSeconds", 1),
                retry_max_seconds=int(ctx.number("vendorRetryMaxSeconds", 60)),
                deadline_seconds=int(ctx.number("vendorDeadlineSeconds", 900)),
                reconcile_seconds=int(ctx.number("vendorReconcileSeconds", 3600)),
                job_poll_seconds=int(ctx.number("vendorJobPollSeconds", 5)),
                job_timeout_seconds=int(ctx.number("vendorJobTimeoutSeconds", 1800)),
                circuit_failure_rate=ctx.number("vendorCircuitFailureRate", 0.5),
                circuit_min_requests=int(ctx.number("vendorCircuitMinRequests", 10)),
                circuit_window_seconds=int(ctx.number("vendorCircuitWindowSeconds", 30)),
                circuit_cooldown_seconds=int(ctx.number("vendorCircuitCooldownSeconds", 30)),
            ),
            buffers=BufferConfig(
                retry_base_seconds=ctx.number("bufferRetryBaseSeconds", 1),
                retry_max_seconds=int(ctx.number("bufferRetryMaxSeconds", 60)),
                max_receive_count=int(ctx.number("bufferMaxReceiveCount", 100)),
                max_concurrency=int(ctx.number("bufferMaxConcurrency", 100)),
            ),
            worker_wait=ctx.wait("workerStep", heartbeat=60, timeout=300, retries=2),
            vendor_step_retries=int(ctx.number("vendorStepRetries", 1)),
            voucher_concurrency=int(ctx.number("voucherConcurrency", 10)),
            execution_timeout=Duration.seconds(ctx.number("executionTimeoutSeconds", 8 * 86_400)),
            approval_return_threshold=ctx.decimal("approvalReturnThreshold", "500"),
            approval_timeout=Duration.seconds(ctx.number("approvalTimeoutSeconds", 7 * 86_400)),
            api_rate_limit=ctx.number("apiRateLimit", 50),
            api_burst_limit=int(ctx.number("apiBurstLimit", 100)),
            api_cognito_user_pool_arn=ctx.optional_text("apiCognitoUserPoolArn"),
            alarm_email=ctx.optional_text("alarmEmail"),
            event_log_retention_days=int(ctx.number("eventLogRetentionDays", 90)),
            archive_retention_days=int(ctx.number("archiveRetentionDays", 365)),
            failed_executions_alarm_threshold=int(ctx.number("failedExecutionsAlarmThreshold", 1)),
            on_partial_failure=PartialFailurePolicy(
                ctx.choice(
                    "onPartialFailure",
                    [p.value for p in PartialFailurePolicy],
                    PartialFailurePolicy.COMPENSATE.value,
                )
            ),
        )


class _Recorder:
    """A context reader over a plain mapping that notes every key asked for."""

    def __init__(self, context: Mapping[str, Any]) -> None:
        self._context = context
        self.read: set[str] = set()

    def try_get_context(self, key: str) -> Any:
        self.read.add(key)
        return self._context.get(key)


def config_of(context: Mapping[str, Any]) -> tuple[LoyaltyConfig, frozenset[str]]:
    """The configuration a synth with ``context`` builds (raises `ConfigError` naming a bad key),
    and every key it reads: a tool that takes overrides refuses one nobody reads (a typo)."""
    recorder = _Recorder(context)
    config = LoyaltyConfig.from_context(recorder)
    return config, frozenset(recorder.read)


class _Context:
    def __init__(self, node: ContextReader) -> None:
        self._node = node

    def _raw(self, name: str) -> Any:
        return self._node.try_get_context(PREFIX + name)

    def text(self, name: str, default: str | None = None, *, pattern: str | None = None) -> str:
        value = self._raw(name)
        if value is None:
            value = default
        if not isinstance(value, str) or not value:
            raise ConfigError(f"context {PREFIX}{name} is required (a non-empty string)")
        if pattern and not re.fullmatch(pattern, value):
            raise ConfigError(f"context {PREFIX}{name}={value!r} must match {pattern}")
        return value

    def flag(self, name: str) -> bool:
        value = self._raw(name)
        if value in (None, False, "false", "False", "0", 0):
            return False
        if value in (True, "true", "True", "1", 1):
            return True
        raise ConfigError(f"context {PREFIX}{name}={value!r} must be true or false")

    def choice(self, name: str, choices: list[str], default: str) -> str:
        value = self._raw(name)
        value = default if value is None else value
        if value not in choices:
            raise ConfigError(
                f"context {PREFIX}{name}={value!r} must be one of {', '.join(choices)}"
            )
        return str(value)

    def optional_text(self, name: str, *, pattern: str | None = None) -> str | None:
        value = self._raw(name)
        if not value:
            return None
        if pattern and not re.fullmatch(pattern, str(value)):
            raise ConfigError(f"context {PREFIX}{name}={value!r} must match {pattern}")
        return str(value)

    def number(self, name: str, default: float) -> float:
        return float(self.decimal(name, str(default)))

    def decimal(self, name: str, default: str) -> Decimal:
        raw = self._raw(name)
        try:
            value = Decimal(str(default if raw is None else raw))
        except InvalidOperation as err:
            raise ConfigError(f"context {PREFIX}{name}={raw!r} is not a number") from err
        if not value.is_finite() or value < 0:
            raise ConfigError(f"context {PREFIX}{name}={raw!r} must be a number >= 0")
        return value

    def wait(self, prefix: str, *, heartbeat: int, timeout: int, retries: int) -> WaitPolicy:
        try:
            return WaitPolicy(
                heartbeat=Duration.seconds(self.number(f"{prefix}HeartbeatSeconds", heartbeat)),
                timeout=Duration.seconds(self.number(f"{prefix}TimeoutSeconds", timeout)),
                retries=int(self.number(f"{prefix}Retries", retries)),
            )
        except ValueError as err:
            raise ConfigError(f"context {PREFIX}{prefix}*: {err}") from err

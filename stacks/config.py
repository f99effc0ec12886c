"""Deploy-time configuration: cdk.json context, read once into a typed object.

Every key is ``loyalty:<name>``; override any of them with ``cdk synth -c loyalty:<name>=<value>``.
A bad value fails the synth with a message that names the key.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol

from aws_cdk import Duration

from cdk_constructs import WaitPolicy
from loyalty.contract import DEFAULT_DOMAIN

PREFIX = "loyalty:"


class ContextReader(Protocol):
    def try_get_context(self, key: str) -> Any: ...


class ConfigError(ValueError):
    pass


@dataclass(frozen=True)
class LoyaltyConfig:
    account: str
    region: str
    domain: str
    """``metadata.domain`` of every vendor event (seed 000: LEGO-LOYALTY)."""
    powertools_version: str
    """Version of the public Powertools layer; equal to aws-lambda-powertools in
    requirements-dev.txt, so the code is tested against what runs in Lambda."""
    metrics_namespace: str
    points_per_currency_unit: Decimal
    vendor_base_url: str
    vendor_api_key_secret_name: str | None
    """Existing Secrets Manager secret holding the vendor API key; None creates one to fill in."""
    vendor_connect_timeout_seconds: float
    vendor_read_timeout_seconds: float
    worker_wait: WaitPolicy
    vendor_wait: WaitPolicy
    voucher_concurrency: int
    """Vouchers (and rewards) of one order redeemed in parallel (Map MaxConcurrency)."""
    execution_timeout: Duration

    @classmethod
    def from_context(cls, node: ContextReader) -> LoyaltyConfig:
        ctx = _Context(node)
        return cls(
            account=ctx.text("account", os.environ.get("CDK_DEFAULT_ACCOUNT") or "000000000000"),
            region=ctx.text("region", os.environ.get("CDK_DEFAULT_REGION") or "us-east-1"),
            domain=ctx.text("domain", DEFAULT_DOMAIN),
            powertools_version=ctx.text("powertoolsVersion", pattern=r"\d+\.\d+\.\d+"),
            metrics_namespace=ctx.text("metricsNamespace", "Loyalty"),
            points_per_currency_unit=ctx.decimal("pointsPerCurrencyUnit", "1"),
            vendor_base_url=ctx.text("vendorBaseUrl", pattern=r"https?://\S+"),
            vendor_api_key_secret_name=ctx.optional_text("vendorApiKeySecretName"),
            vendor_connect_timeout_seconds=ctx.number("vendorConnectTimeoutSeconds", 2),
            vendor_read_timeout_seconds=ctx.number("vendorReadTimeoutSeconds", 5),
            worker_wait=ctx.wait("workerStep", heartbeat=60, timeout=300, retries=2),
            vendor_wait=ctx.wait("vendorStep", heartbeat=900, timeout=3600, retries=1),
            voucher_concurrency=int(ctx.number("voucherConcurrency", 10)),
            execution_timeout=Duration.seconds(ctx.number("executionTimeoutSeconds", 86_400)),
        )


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

    def optional_text(self, name: str) -> str | None:
        value = self._raw(name)
        return str(value) if value else None

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

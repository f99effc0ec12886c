"""What the order-step functions are given (``stacks/order_flow.py`` sets every variable):
what every step has, and what the steps that need more are given besides."""

from __future__ import annotations

from loyalty.contract import Env, PartialFailurePolicy
from loyalty.settings import (
    Amount,
    Count,
    EnvironmentSettings,
    NonEmpty,
    PublisherSettings,
    variable,
)


class StepSettings(PublisherSettings):
    """Every step: the domain it answers for, the bus and the claim-check bucket."""

    domain: NonEmpty = variable(Env.LOYALTY_DOMAIN)
    orders_bucket: NonEmpty = variable(Env.ORDERS_BUCKET)


class OrdersTableSettings(EnvironmentSettings):
    orders_table: NonEmpty = variable(Env.ORDERS_TABLE)


class ActionsTableSettings(EnvironmentSettings):
    actions_table: NonEmpty = variable(Env.ACTIONS_TABLE)


class TransformSettings(EnvironmentSettings):
    points_per_currency_unit: Amount = variable(Env.POINTS_PER_CURRENCY_UNIT)
    approval_return_threshold: Amount = variable(Env.APPROVAL_RETURN_THRESHOLD)


class ApprovalSettings(EnvironmentSettings):
    approval_timeout_seconds: Count = variable(Env.APPROVAL_TIMEOUT_SECONDS)


class FailureSettings(EnvironmentSettings):
    on_partial_failure: PartialFailurePolicy = variable(Env.ON_PARTIAL_FAILURE)

"""What the Order API function is given (``stacks/order_api.py`` sets every variable)."""

from __future__ import annotations

from loyalty.contract import Env
from loyalty.settings import NonEmpty, PublisherSettings, variable


class ApiSettings(PublisherSettings):
    domain: NonEmpty = variable(Env.LOYALTY_DOMAIN)
    orders_table: NonEmpty = variable(Env.ORDERS_TABLE)
    actions_table: NonEmpty = variable(Env.ACTIONS_TABLE)
    idempotency_table: NonEmpty = variable(Env.IDEMPOTENCY_TABLE)
    orders_bucket: NonEmpty = variable(Env.ORDERS_BUCKET)
    state_machine_arn: NonEmpty = variable(Env.STATE_MACHINE_ARN)

"""What the Order Starter is given (``stacks/resumers.py`` sets every variable)."""

from __future__ import annotations

from loyalty.contract import Env
from loyalty.settings import BufferSettings, NonEmpty, variable


class StarterSettings(BufferSettings):
    state_machine_arn: NonEmpty = variable(Env.STATE_MACHINE_ARN)
    orders_bucket: NonEmpty = variable(Env.ORDERS_BUCKET)

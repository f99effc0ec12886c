"""What the Token Handler is given (``stacks/resumers.py`` sets every variable)."""

from __future__ import annotations

from loyalty.contract import Env
from loyalty.settings import BufferSettings, NonEmpty, variable


class TokenHandlerSettings(BufferSettings):
    orders_table: NonEmpty = variable(Env.ORDERS_TABLE)

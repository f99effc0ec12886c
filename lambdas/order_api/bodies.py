"""The bodies people send to act on an order. The function validates with these models, and the
gateway's request models are generated from them (``stacks/order_api.py``), so the two agree."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

MAX_COMMENT = 500


class OperatorAction(BaseModel):
    """An operator's action on an order (``retry``, ``cancel``): why, for the record."""

    model_config = ConfigDict(extra="forbid", title="OperatorAction")

    comment: str | None = Field(default=None, max_length=MAX_COMMENT)


class Decision(BaseModel):
    """A decision on a step that waits for a person (``approval``)."""

    model_config = ConfigDict(extra="forbid", title="Decision")

    decision: Literal["approve", "reject"]
    comment: str | None = Field(default=None, max_length=MAX_COMMENT)

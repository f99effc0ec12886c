"""What the patterns demo's steps carry (plain pydantic: no AWS client, so a worker outside
Lambda can import it)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from loyalty.contract import TASK_TOKEN_FIELD


class Work(BaseModel):
    """A unit of simulated work; a callback's carries the task token."""

    model_config = ConfigDict(populate_by_name=True)

    work_seconds: float = Field(ge=0, le=600)
    task_token: str | None = Field(default=None, alias=TASK_TOKEN_FIELD, min_length=1)

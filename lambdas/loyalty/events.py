"""Typed models of the events in `loyalty.contract`, and builders for the events handlers put.

Incoming details are parsed with these models at the edge of every handler; a detail that does not
parse raises ``pydantic.ValidationError`` and never reaches domain code.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from loyalty.adapters.event_bus import OutgoingEvent
from loyalty.contract import (
    ORDER_LIFECYCLE_CATEGORY,
    TASK_TOKEN_FIELD,
    VENDOR_DETAIL_TYPE,
    OrderEvent,
    OrderStep,
    Source,
    StepStatus,
    TaskAnswer,
    VendorRequestType,
    VendorStatus,
    order_step_metadata,
    vendor_metadata,
)


class _Lenient(BaseModel):
    # Producers may add fields; consumers read what they need and pass the rest through.
    model_config = ConfigDict(extra="allow", frozen=True, populate_by_name=True)


# --- Order steps -------------------------------------------------------------------------------


class StepFailure(_Lenient):
    """What a Catch puts in the state (``$.error``): Step Functions' own field names."""

    error: str = Field(alias="Error", default="States.Unknown")
    cause: str | None = Field(alias="Cause", default=None)
    vendor_phase: bool = Field(alias="VendorPhase", default=False)
    """The failure came once the vendor requests were sent (the state machine marks it)."""


class StepRequest(_Lenient):
    """Detail of an order-step request put by the order-processing state machine."""

    task_token: str = Field(alias=TASK_TOKEN_FIELD, min_length=1)
    order_reference: str = Field(min_length=1)
    execution_id: str = Field(min_length=1)
    order: dict[str, Any] = Field(default_factory=dict)
    error: StepFailure | None = None


def task_finished(
    request: StepRequest, *, step: OrderStep, domain: str, result: dict[str, Any]
) -> OutgoingEvent:
    return _task_answer(request, TaskAnswer.FINISHED, step, domain, {"result": result})


def task_failed(
    request: StepRequest, *, step: OrderStep, domain: str, error: str, cause: str
) -> OutgoingEvent:
    return _task_answer(request, TaskAnswer.FAILED, step, domain, {"error": error, "cause": cause})


def _task_answer(
    request: StepRequest, answer: TaskAnswer, step: OrderStep, domain: str, body: dict[str, Any]
) -> OutgoingEvent:
    status = StepStatus.FINISHED if answer is TaskAnswer.FINISHED else StepStatus.FAILED
    return OutgoingEvent(
        answer.value,
        {
            "metadata": order_step_metadata(domain=domain, step=step.value, status=status),
            TASK_TOKEN_FIELD: request.task_token,
            "order_reference": request.order_reference,
            **body,
        },
    )


def order_lifecycle_event(
    event: OrderEvent,
    *,
    domain: str,
    order_reference: str,
    data: dict[str, Any],
    service: Source = Source.ORDER_PROCESS,
) -> OutgoingEvent:
    return OutgoingEvent(
        event.value,
        {
            "metadata": {
                "domain": domain,
                "service": service.value,
                "category": ORDER_LIFECYCLE_CATEGORY,
                "type": event.value,
                "status": event.value.removeprefix("order."),
            },
            "order_reference": order_reference,
            **data,
        },
    )


# --- Vendor requests and answers (seed 000) ----------------------------------------------------


class VendorMetadata(_Lenient):
    domain: str
    service: str
    category: str
    type: VendorRequestType
    status: VendorStatus


class VoucherCode(_Lenient):
    voucher_code: str = Field(min_length=1)


class RewardCode(_Lenient):
    reward_code: str = Field(min_length=1)


class VendorError(_Lenient):
    name: str
    reason: str


class VendorData(_Lenient):
    loyalty_request_id: str = Field(min_length=1)
    loyalty_reference: str = Field(min_length=1)
    merchant_reference: str = Field(min_length=1)
    loyalty_order_reference: str = Field(min_length=1)
    vouchers: list[VoucherCode] = Field(default_factory=list)
    rewards: list[RewardCode] = Field(default_factory=list)
    points: int | None = Field(default=None, ge=0)
    error: VendorError | None = None
    vendor_references: list[str] = Field(default_factory=list)
    """On ``submitted`` answers: the vendor's transaction or redemption ids."""


class VendorEvent(_Lenient):
    """A vendor request (order process → mediator) or answer (mediator → token handler)."""

    metadata: VendorMetadata
    data: VendorData


def vendor_answer(
    request: VendorEvent,
    *,
    status: VendorStatus,
    extra: dict[str, Any] | None = None,
    error: VendorError | None = None,
    resources: tuple[str, ...] = (),
) -> OutgoingEvent:
    """Seed 000 step 3: the request's data echoed back with the mediator's verdict (and, in the
    envelope's ``resources``, the execution that asked)."""
    data = request.data.model_dump(mode="json", exclude_unset=True)
    data.update(extra or {})
    if error is not None:
        data["error"] = error.model_dump(mode="json")
    return OutgoingEvent(
        VENDOR_DETAIL_TYPE,
        {
            "metadata": vendor_metadata(
                domain=request.metadata.domain,
                service=Source.VENDOR_MEDIATOR,
                type=request.metadata.type.value,
                status=status,
            ),
            "data": data,
        },
        resources,
    )

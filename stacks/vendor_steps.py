"""The order flow's vendor requests (seed 000): points, and a Map over the order's vouchers or
rewards; to apply them, or to reverse them in a compensation."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_cdk import Stack
from aws_cdk import aws_stepfunctions as sfn

from cdk_constructs import EventDrivenStateMachine
from loyalty.contract import (
    VENDOR_DETAIL_TYPE,
    VENDOR_TOKEN_FIELD,
    Source,
    VendorRequestType,
    VendorStatus,
    vendor_metadata,
)
from stacks.config import LoyaltyConfig

JsonPath = sfn.JsonPath


class VendorSteps:
    """Makes the flow's vendor requests in ``scope`` (the stack: each state keeps its name and
    each resource its logical ID), as ``flow``'s execution-named callback steps."""

    def __init__(
        self, scope: Stack, *, config: LoyaltyConfig, flow: EventDrivenStateMachine
    ) -> None:
        self._scope = scope
        self._config = config
        self._flow = flow

    def request(self, id: str, *, type: str, data: Mapping[str, Any]) -> sfn.CustomState:
        """A seed 000 vendor request; the token travels in ``data.loyalty_request_id``.

        It never fails its branch: however it ends (an ``error`` answer, no answer in all its
        attempts), it ends its branch or Map iteration with ``{"applied": false}``, and the Token
        Handler has recorded what the vendor did (or the item is still PENDING: no answer). Its
        output is a constant either way, so a Map over 1,000 vouchers stays small."""
        task = self._flow.execution_named_callback_step(
            id,
            detail_type=VENDOR_DETAIL_TYPE,
            detail={
                "metadata": vendor_metadata(
                    domain=self._config.domain,
                    service=Source.ORDER_PROCESS,
                    type=type,
                    status=VendorStatus.PROCESSED,
                ),
                "data": {VENDOR_TOKEN_FIELD: JsonPath.task_token, **data},
            },
            wait=self._config.vendor_wait,
            result_selector={"applied": True},
            # The mediator tells an operator's re-run (``<reference>+<attempt>``) by it.
            result_path="$",
        )
        task.add_catch(
            sfn.Pass(
                self._scope, f"{id}Unsettled", result=sfn.Result.from_object({"applied": False})
            ),
            errors=["States.ALL"],
        )
        return task

    def points(
        self, id: str = "ApplyPoints", *, source: str = "$.loyalty", type_path: str | None = None
    ) -> sfn.CustomState:
        """Credit (sale) or deduct (return) points: one request whose type is the order's (or,
        to compensate, its reversal's: ``source`` is then the compensation plan)."""
        return self.request(
            id,
            type=JsonPath.string_at(type_path or f"{source}.order_type"),
            data={
                "loyalty_reference": JsonPath.string_at(f"{source}.loyalty_reference"),
                "merchant_reference": JsonPath.string_at(f"{source}.merchant_reference"),
                "loyalty_order_reference": JsonPath.string_at("$.order_reference"),
                "points": JsonPath.number_at(f"{source}.points"),
            },
        )

    def redemptions(
        self,
        kind: VendorRequestType,
        items: str,
        code: str,
        *,
        verb: str = "Redeem",
        source: str = "$.loyalty",
    ) -> sfn.Map:
        """A Map over the order's vouchers (or rewards): one request, one token, per item. The
        request is seed 000's Dispatch Voucher, field for field (a reversal's has its type)."""
        title = kind.value.split("-")[0].capitalize()
        redeem = self.request(
            f"{verb}{title}",
            type=kind.value,
            data={
                "loyalty_reference": JsonPath.string_at("$.loyalty_reference"),
                "merchant_reference": JsonPath.string_at("$.merchant_reference"),
                "loyalty_order_reference": JsonPath.string_at("$.loyalty_order_reference"),
                items: [{code: JsonPath.string_at(f"$.{code}")}],
            },
        )
        return sfn.Map(
            self._scope,
            f"{verb}{title}s",
            items_path=f"{source}.{items}",
            item_selector={
                code: JsonPath.string_at(f"$$.Map.Item.Value.{code}"),
                "loyalty_reference": JsonPath.string_at(f"{source}.loyalty_reference"),
                "merchant_reference": JsonPath.string_at(f"{source}.merchant_reference"),
                "loyalty_order_reference": JsonPath.string_at("$.order_reference"),
            },
            max_concurrency=self._config.voucher_concurrency,
            result_path=JsonPath.DISCARD,
        ).item_processor(redeem)

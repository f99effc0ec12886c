"""Vendor Mediator entry point: a vendor request event in, a ``task-status`` answer event out.

First version: one attempt per request, timeouts on every call, permanent and transient failures
answered as ``error`` with a named reason.
"""

from __future__ import annotations

from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities import parameters
from aws_lambda_powertools.utilities.typing import LambdaContext

from loyalty.adapters.event_bus import EventBusPublisher
from loyalty.contract import Env, VendorStatus
from loyalty.events import VendorEvent, vendor_answer
from loyalty.settings import float_env, require_env
from vendor_mediator.mediation import mediate
from vendor_mediator.vendor_client import VendorClient

logger = Logger()
tracer = Tracer()
metrics = Metrics()

_secret_id = require_env(Env.VENDOR_API_KEY_SECRET_ID)


def _api_key() -> str:
    # Cached for five minutes: a rotated key is picked up without a redeploy.
    return str(parameters.get_secret(_secret_id, max_age=300))


client = VendorClient(
    base_url=require_env(Env.VENDOR_BASE_URL),
    api_key=_api_key,
    connect_timeout=float_env(Env.VENDOR_CONNECT_TIMEOUT_SECONDS, 2.0),
    read_timeout=float_env(Env.VENDOR_READ_TIMEOUT_SECONDS, 5.0),
)
publisher = EventBusPublisher(
    client=boto3.client("events"),
    bus_name=require_env(Env.EVENT_BUS),
    source=require_env(Env.EVENT_SOURCE),
)


@logger.inject_lambda_context(correlation_id_path="detail.data.loyalty_order_reference")
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = VendorEvent.model_validate(event["detail"])
    tracer.put_annotation("order_reference", request.data.loyalty_order_reference)
    verdict = mediate(request, client)
    publisher.publish(
        [
            vendor_answer(
                request,
                status=verdict.status,
                extra={"vendor_references": verdict.vendor_references}
                if verdict.vendor_references
                else None,
                error=verdict.error,
            )
        ]
    )
    if verdict.status is VendorStatus.SUBMITTED:
        metrics.add_metric(name="VendorRequestSubmitted", unit=MetricUnit.Count, value=1)
    else:
        assert verdict.error is not None
        logger.warning("vendor request failed", extra={"error": verdict.error.model_dump()})
        metrics.add_metric(name="VendorRequestFailed", unit=MetricUnit.Count, value=1)
    return {"status": verdict.status.value}

"""What every order-step worker does around its domain function.

1. Parse the step request (typed; a malformed request raises and lands in the DLQ).
2. Run the step's domain function.
3. Answer on the bus: ``TASK_FINISHED`` with the result (plus any events the step emits, in the
   same ``PutEvents`` call), or ``TASK_FAILED`` with the domain error's name and message.

An order that travels by claim check (too large for the state machine) is read from the orders
bucket before the step runs, and a result too large to travel is stored there in its turn.

Domain errors are business outcomes and are answered, never retried. Anything else (a throttled
table, a bug) propagates: Lambda retries the invocation (if a retry can still answer before the
step's heartbeat: see ``EventDrivenStateMachine.worker_step``), then sends it to the DLQ, and the
waiting task's heartbeat timeout makes Step Functions retry the step with a new token.

A run that finds its step no longer current (the order moved past it or ended: every write is
conditional on that) changes nothing and answers nothing (``StaleStepError``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from loyalty.adapters.actions_table import ActionsTable
from loyalty.adapters.claim_check import ClaimCheck, is_claim_check
from loyalty.adapters.event_bus import EventBusPublisher, OutgoingEvent
from loyalty.adapters.orders_table import NotOwnerError, OrdersTable, StaleStepError
from loyalty.contract import ErrorName, MetricName, OrderStep, TaskAnswer, claim_check_key
from loyalty.domain.errors import DomainError
from loyalty.domain.settlement import NO_ANSWER
from loyalty.events import StepRequest, task_failed, task_finished
from loyalty.order_status import ItemStatus
from order_steps.settings import ActionsTableSettings, OrdersTableSettings, StepSettings


@dataclass(frozen=True)
class StepResult:
    result: dict[str, Any]
    """Becomes the task's output in the state machine."""
    events: list[OutgoingEvent] = field(default_factory=list)
    """Put in the same call as TASK_FINISHED (e.g. ``order.completed``)."""
    counts: tuple[MetricName, ...] = ()
    """Business metrics to count once (e.g. ``OrderCompleted``)."""


StepFunction = Callable[[StepRequest], StepResult]
LambdaHandler = Callable[[dict[str, Any], LambdaContext], dict[str, Any]]


def orders_table_from_env() -> OrdersTable:
    table = OrdersTableSettings.from_environment().orders_table
    return OrdersTable(client=boto3.client("dynamodb"), table_name=table)


def actions_table_from_env() -> ActionsTable:
    table = ActionsTableSettings.from_environment().actions_table
    return ActionsTable(client=boto3.client("dynamodb"), table_name=table)


def claim_check_from_env() -> ClaimCheck:
    bucket = StepSettings.from_environment().orders_bucket
    return ClaimCheck(client=boto3.client("s3"), bucket=bucket)


def record_unanswered_unknown(
    orders: OrdersTable, order_reference: str, items: list[str], now: str
) -> None:
    """Items whose vendor request got no answer may have been applied or not: UNKNOWN."""
    for key in items:
        orders.mark_item(
            order_reference=order_reference,
            item_key=key,
            status=ItemStatus.UNKNOWN,
            now=now,
            attributes={"error": ErrorName.VENDOR_OUTCOME_UNKNOWN.value, "reason": NO_ANSWER},
        )


def claim_key(request: StepRequest, name: str) -> str:
    """Where a document of this execution is kept: ``orders/<order>/<execution>/<name>.json``."""
    execution = request.execution_id.rsplit(":", 1)[-1]
    return claim_check_key(request.order_reference, f"{execution}/{name}.json")


def step_handler(step: OrderStep, run: StepFunction) -> LambdaHandler:
    """Build the Lambda entry point of a step worker. Called at import (cold start), so the
    environment is read once and a missing variable fails loudly."""
    logger = Logger()
    tracer = Tracer()
    metrics = Metrics()
    settings = StepSettings.from_environment()
    domain = settings.domain
    claims = ClaimCheck(client=boto3.client("s3"), bucket=settings.orders_bucket)
    publisher = EventBusPublisher(
        client=boto3.client("events"), bus_name=settings.event_bus, source=settings.event_source
    )

    def answer_failure(request: StepRequest, error: str, cause: str) -> dict[str, Any]:
        logger.warning("step failed", extra={"error": error, "cause": cause})
        publisher.publish(
            [task_failed(request, step=step, domain=domain, error=error, cause=cause)]
        )
        metrics.add_metric(name=MetricName.STEP_FAILED, unit=MetricUnit.Count, value=1)
        return {"answer": TaskAnswer.FAILED.value, "error": error}

    @logger.inject_lambda_context(correlation_id_path="detail.order_reference")
    @tracer.capture_lambda_handler
    @metrics.log_metrics
    def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        # Per invocation, not set_default_dimensions: default dimensions live on the Metrics
        # class, shared by every worker that runs in one process (as in the local cloud).
        metrics.add_dimension(name="step", value=step.value)
        request = StepRequest.model_validate(event["detail"])
        tracer.put_annotation("order_reference", request.order_reference)
        if is_claim_check(request.order):
            request = request.model_copy(update={"order": claims.load(request.order)})
        try:
            outcome = run(request)
        except StaleStepError as err:
            # A late run (Lambda's retry of an invocation that failed after the state machine
            # moved on): it changed nothing, and its token is closed, so nobody awaits an answer.
            logger.warning("stale step ignored", extra={"reason": str(err)})
            metrics.add_metric(name=MetricName.STALE_STEP_IGNORED, unit=MetricUnit.Count, value=1)
            return {"answer": None, "stale": str(err)}
        except NotOwnerError as err:
            return answer_failure(request, ErrorName.DUPLICATE_ORDER.value, str(err))
        except DomainError as err:
            return answer_failure(request, err.error_name, str(err))
        # A result too large for the state machine (an order of many lines) travels by claim check.
        result = claims.inline_or_store(claim_key(request, step.value), outcome.result)
        publisher.publish(
            [task_finished(request, step=step, domain=domain, result=result), *outcome.events]
        )
        metrics.add_metric(name=MetricName.STEP_SUCCEEDED, unit=MetricUnit.Count, value=1)
        for name in outcome.counts:
            metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)
        requested_at = (request.model_extra or {}).get("requested_at")
        if requested_at:
            waited = datetime.now(UTC) - datetime.fromisoformat(str(requested_at))
            metrics.add_metric(
                name=MetricName.STEP_DURATION,
                unit=MetricUnit.Milliseconds,
                value=waited.total_seconds() * 1000,
            )
        return {"answer": TaskAnswer.FINISHED.value}

    return handler

"""Vendor Mediator entry point: a batch of vendor requests from the buffer queue.

Each SQS record is one vendor request event (seed 000 step 1). Records are processed one by one
with partial-batch failure reporting, so one request that must wait never re-runs its neighbours:

* a request that does not parse against the contract (or names several voucher or reward codes:
  one per request) goes straight to the dead-letter queue, with the reason, and is not answered;
* a request that must wait (circuit open, quota, vendor trouble) is made invisible for its backoff
  delay and reported failed: SQS delivers it again later;
* a request whose deliveries keep crashing the mediator is parked in the dead-letter queue with
  the reason (and not answered: the vendor was not the problem);
* otherwise the verdict is put on the bus as seed 000's step-3 answer — once: a redelivered
  request (same event id and token) finds its answer in the idempotency store and is not answered
  twice. A ``VendorOutcomeUnknown`` verdict also puts the request in the reconciliation queue,
  for an operator (an alarm watches it).
"""

from __future__ import annotations

import json
import time
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities import parameters
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
)
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from loyalty.adapters.event_bus import EventBusPublisher
from loyalty.backoff import Backoff
from loyalty.contract import MetricName, VendorStatus
from loyalty.events import VendorEvent, vendor_answer
from loyalty.naming import attempt_from_resources, execution_resources
from vendor_mediator.mediation import (
    MediationPolicy,
    Mediator,
    Park,
    Report,
    Requeue,
    Verdict,
    request_key,
    request_problem,
)
from vendor_mediator.request_state import RequestStates
from vendor_mediator.resilience import CircuitBreaker, RateLimiter
from vendor_mediator.settings import MediatorSettings
from vendor_mediator.vendor_client import VendorClient

logger = Logger()
tracer = Tracer()
metrics = Metrics()
# A batch in which every request must wait is normal (vendor outage): report the failures, do not
# fail the invocation.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)

settings = MediatorSettings.from_environment()
_dynamodb = boto3.client("dynamodb")
_sqs = boto3.client("sqs")
# A provider of this module's own (not Powertools' process-wide default): its cache and client
# belong to this execution environment.
_secrets = parameters.SecretsProvider(boto3_client=boto3.client("secretsmanager"))
_backoff = Backoff(base_seconds=settings.retry_base_seconds, cap_seconds=settings.retry_max_seconds)


def _api_key(refresh: bool) -> str:
    # Cached for five minutes so a rotated key is picked up without a redeploy; fetched afresh
    # when the vendor has just refused the cached one.
    return str(_secrets.get(settings.vendor_api_key_secret_id, max_age=300, force_fetch=refresh))


states = RequestStates(
    client=_dynamodb, table=settings.state_table, ttl_seconds=settings.idempotency_ttl_seconds
)
mediator = Mediator(
    client=VendorClient(
        base_url=settings.vendor_base_url,
        api_key=_api_key,
        connect_timeout=settings.connect_timeout_seconds,
        read_timeout=settings.read_timeout_seconds,
    ),
    circuit=CircuitBreaker(
        client=_dynamodb,
        table=settings.state_table,
        failure_rate=settings.circuit_failure_rate,
        min_requests=settings.circuit_min_requests,
        window_seconds=settings.circuit_window_seconds,
        cooldown_seconds=settings.circuit_cooldown_seconds,
        probe_lease_seconds=settings.connect_timeout_seconds + settings.read_timeout_seconds + 1,
    ),
    limiter=RateLimiter(
        client=_dynamodb, table=settings.state_table, per_second=settings.requests_per_second
    ),
    states=states,
    policy=MediationPolicy(
        attempts_per_delivery=settings.attempts_per_delivery,
        deadline_seconds=settings.deadline_seconds,
        reconcile_seconds=settings.reconcile_seconds,
        job_poll_seconds=settings.job_poll_seconds,
        job_timeout_seconds=settings.job_timeout_seconds,
        backoff=_backoff,
    ),
)
publisher = EventBusPublisher(
    client=boto3.client("events"), bus_name=settings.event_bus, source=settings.event_source
)
idempotency = IdempotencyConfig(
    # One answer per delivered request: EventBridge's event id and the task token identify it.
    event_key_jmespath="[id, detail.data.loyalty_request_id]",
    expires_after_seconds=settings.idempotency_ttl_seconds,
)
persistence = DynamoDBPersistenceLayer(
    table_name=settings.state_table, key_attr="pk", expiry_attr="expiration", boto3_client=_dynamodb
)


class RequeueLater(Exception):  # noqa: N818 - control flow, not an error
    def __init__(self, requeue: Requeue, vendor_message: str | None = None) -> None:
        super().__init__(f"requeued for {requeue.delay_seconds} s: {requeue.reason}")
        self.requeue = requeue
        self.vendor_message = vendor_message


class ParkRequest(Exception):  # noqa: N818 - control flow, not an error
    def __init__(self, park: Park) -> None:
        super().__init__(park.reason)
        self.park = park


@idempotent_function(
    data_keyword_argument="event", config=idempotency, persistence_store=persistence
)
def answer_once(*, event: dict[str, Any], message_id: str, delivery: int) -> dict[str, Any]:
    request = VendorEvent.model_validate(event["detail"])
    report = Report()
    attempt = attempt_from(event)
    outcome = mediator.process(
        request, message_id=message_id, delivery=delivery, report=report, attempt=attempt
    )
    _record_metrics(report)
    # Raised, not returned: the idempotency store must not keep "no answer" as the answer.
    if isinstance(outcome, Requeue):
        raise RequeueLater(outcome, report.vendor_message)
    if isinstance(outcome, Park):
        raise ParkRequest(outcome)
    if outcome.outcome_unknown:
        # First the operator's queue, then the answer: an unknown outcome is never only an event.
        _reconcile(event, request, outcome)
    # The answer names the run that asked (the Token Handler records it only for that run).
    publisher.publish(
        [_answer(request, outcome, resources=execution_resources(event.get("resources")))]
    )
    if outcome.error is not None:
        logger.warning(
            "request answered error",
            extra={"error": outcome.error.model_dump(), "vendor_message": report.vendor_message},
        )
    metrics.add_metric(
        name=MetricName.ANSWERED_SUBMITTED
        if outcome.status is VendorStatus.SUBMITTED
        else MetricName.ANSWERED_ERROR,
        unit=MetricUnit.Count,
        value=1,
    )
    return {"status": outcome.status.value}


def attempt_from(event: dict[str, Any]) -> int:
    """Which run of the order put the request (an operator's re-run is ``<reference>+<n>``)."""
    return attempt_from_resources(event.get("resources"))


def _answer(request: VendorEvent, verdict: Verdict, *, resources: tuple[str, ...]) -> Any:
    extra = {"vendor_references": verdict.vendor_references} if verdict.vendor_references else None
    return vendor_answer(
        request, status=verdict.status, extra=extra, error=verdict.error, resources=resources
    )


def _record_metrics(report: Report) -> None:
    if report.calls:
        metrics.add_metric(name=MetricName.VENDOR_CALLS, unit=MetricUnit.Count, value=report.calls)
        metrics.add_metric(
            name=MetricName.VENDOR_LATENCY,
            unit=MetricUnit.Milliseconds,
            value=1000 * report.vendor_seconds / report.calls,
        )
    if report.failures:
        metrics.add_metric(
            name=MetricName.VENDOR_ERRORS, unit=MetricUnit.Count, value=report.failures
        )
    if report.retries:
        metrics.add_metric(
            name=MetricName.VENDOR_RETRIES, unit=MetricUnit.Count, value=report.retries
        )
    if report.probed:
        logger.info("circuit half-open: probing the vendor")
    if report.circuit_opened:
        logger.warning("circuit opened")
        metrics.add_metric(name=MetricName.CIRCUIT_OPENED, unit=MetricUnit.Count, value=1)
    if report.circuit_closed:
        logger.info("circuit closed")
        metrics.add_metric(name=MetricName.CIRCUIT_CLOSED, unit=MetricUnit.Count, value=1)
    if report.throttled:
        metrics.add_metric(name=MetricName.VENDOR_THROTTLED, unit=MetricUnit.Count, value=1)
    if report.crashes:
        logger.warning(
            "earlier deliveries of this request crashed", extra={"crashes": report.crashes}
        )
    if report.in_doubt:
        logger.warning("the vendor may have applied this request: asking it again")


def _dead_letter(record: SQSRecord, problem: str, metric: MetricName) -> None:
    logger.error("vendor request sent to the dead-letter queue", extra={"problem": problem})
    metrics.add_metric(name=metric, unit=MetricUnit.Count, value=1)
    _sqs.send_message(
        QueueUrl=settings.requests_dead_letter_queue_url,
        MessageBody=record.body,
        MessageAttributes={"error": {"DataType": "String", "StringValue": problem[:1000]}},
    )


def _reconcile(event: dict[str, Any], request: VendorEvent, verdict: Verdict) -> None:
    assert verdict.error is not None
    logger.error("vendor outcome unknown: request parked for reconciliation")
    metrics.add_metric(name=MetricName.OUTCOME_UNKNOWN, unit=MetricUnit.Count, value=1)
    _sqs.send_message(
        QueueUrl=settings.reconciliation_queue_url,
        MessageBody=json.dumps(event),
        MessageAttributes={
            "error": {"DataType": "String", "StringValue": verdict.error.reason[:1000]},
            "idempotency_keys": {
                "DataType": "String",
                "StringValue": request_key(request, attempt_from(event)),
            },
        },
    )


def _hide(record: SQSRecord, seconds: int) -> None:
    _sqs.change_message_visibility(
        QueueUrl=settings.requests_queue_url,
        ReceiptHandle=record.receipt_handle,
        VisibilityTimeout=seconds,
    )


@tracer.capture_method
def record_handler(record: SQSRecord) -> None:
    try:
        event = json.loads(record.body)
        request = VendorEvent.model_validate(event["detail"])
    except (ValueError, KeyError, TypeError, ValidationError) as err:
        _dead_letter(record, f"{type(err).__name__}: {err}", MetricName.INVALID_REQUEST)
        return  # handled: the record leaves the queue
    problem = request_problem(request)
    if problem is not None:
        _dead_letter(record, problem, MetricName.INVALID_REQUEST)
        return
    logger.append_keys(order_reference=request.data.loyalty_order_reference)
    delivery = int(record.attributes.approximate_receive_count)
    try:
        answer_once(event=event, message_id=record.message_id, delivery=delivery)
    except ParkRequest as parked:
        _dead_letter(record, parked.park.reason, MetricName.MEDIATOR_CRASHED)
        return  # handled: the record leaves the queue, unanswered
    except RequeueLater as later:
        logger.info(
            "request requeued",
            extra={
                "delay": later.requeue.delay_seconds,
                "reason": later.requeue.reason,
                "vendor_message": later.vendor_message,
            },
        )
        metrics.add_metric(name=MetricName.REQUEUED, unit=MetricUnit.Count, value=1)
        _hide(record, later.requeue.delay_seconds)
        raise
    except IdempotencyAlreadyInProgressError:
        # A duplicate of a request being answered right now: look again shortly. This delivery
        # was handled (it is not a crash).
        key = request_key(request, attempt_from(event))
        states.save(key, record.message_id, now=time.time(), trouble_since=None)
        _hide(record, max(1, int(_backoff.ceiling(0))))
        raise


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    idempotency.register_lambda_context(context)
    return dict(
        process_partial_response(
            event=event, record_handler=record_handler, processor=processor, context=context
        )
    )

"""AWS's default quotas that an order draws on, in us-east-1, with where each figure comes from.

Read from AWS's documentation on 2026-12-01 through the project's document search (stored copies:
the pages' URLs are the sources; where a stored page showed only its opening, the table was read
from AWS's own source of that page on GitHub, ``awsdocs/*``, or a dated quote of the live page,
as ``read_via`` says). A quota marked ``throttle`` is one the local cloud can simulate
(``local_cloud.runtime.throttling``, by that API name).
"""

from __future__ import annotations

from dataclasses import dataclass

from local_cloud.runtime import throttling

REGION = "us-east-1"
QUOTAS_AS_OF = "2026-12-01"

SFN_QUOTAS = "https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html"
EB_QUOTAS = "https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-quota.html"
LAMBDA_QUOTAS = "https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html"
LAMBDA_SCALING = "https://docs.aws.amazon.com/lambda/latest/dg/scaling-behavior.html"
DDB_QUOTAS = "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html"
DDB_ON_DEMAND = (
    "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/on-demand-capacity-mode.html"
)
DDB_PARTITIONS = "https://repost.aws/knowledge-center/on-demand-table-throttling-dynamodb"
APIGW_QUOTAS = "https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html"
SQS_STANDARD = (
    "https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/"
    "DistributedQueues.html"
)
SQS_QUOTAS = (
    "https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/quotas-queues.html"
)
SFN_ARCHIVED = (
    "awsdocs/aws-step-functions-developer-guide, doc_source/limits-overview.md "
    "(AWS's source of the page until 2023)"
)
SFN_QUOTED = "a quote of the live page dated 2026-10-07 (third-party research notes)"


@dataclass(frozen=True)
class Quota:
    """One quota: ``rate`` units per second sustained (a bucket's refill), ``burst`` on top of
    it where AWS documents one. ``unit`` names what an order consumes (``bench.capacity``)."""

    name: str
    unit: str
    rate: float
    burst: float | None
    adjustable: str
    source: str
    read_via: str = ""
    note: str = ""
    throttle: str | None = None
    """The API's name in ``local_cloud.runtime.throttling``, if the local cloud simulates it."""
    per: str = "/s"
    """How ``rate`` reads: per second, or (Lambda's) at once."""


QUOTAS: tuple[Quota, ...] = (
    Quota(
        "Step Functions StateTransition (Standard)",
        "transitions",
        5_000,
        5_000,
        "yes",
        SFN_QUOTAS,
        read_via=SFN_QUOTED,
        note="AWS's 2023 source of the page gave a refill of 1,500/s (bucket 5,000); at either "
        "figure it binds after SendTaskSuccess. Retries count as transitions. New accounts "
        "start lower, raised by AWS with usage.",
        throttle=throttling.STATE_TRANSITION,
    ),
    Quota(
        "Step Functions StartExecution (Standard)",
        "start_standard",
        300,
        1_300,
        "yes",
        SFN_QUOTAS,
        read_via=f"{SFN_ARCHIVED}; same figures in {SFN_QUOTED}",
        throttle=throttling.START_EXECUTION_STANDARD,
    ),
    Quota(
        "Step Functions StartExecution (Express)",
        "start_express",
        6_000,
        6_000,
        "yes",
        SFN_QUOTAS,
        read_via=f"{SFN_ARCHIVED}; same figures in {SFN_QUOTED}",
        note="The Step Finisher: EventBridge starts it once per worker answer.",
        throttle=throttling.START_EXECUTION_EXPRESS,
    ),
    Quota(
        "Step Functions SendTaskSuccess",
        "send_task_success",
        500,
        3_000,
        "yes",
        SFN_QUOTAS,
        read_via=f"{SFN_ARCHIVED}; same figures in {SFN_QUOTED}",
        note="SendTaskFailure and SendTaskHeartbeat have buckets of their own, the same size.",
        throttle=throttling.SEND_TASK_SUCCESS,
    ),
    Quota(
        "EventBridge PutEvents",
        "put_events",
        10_000,
        None,
        "yes",
        EB_QUOTAS,
        note="Requests per second, per account (all buses); a request carries up to 10 "
        "entries. The state machine's events:putEvents tasks call it with the account's "
        "role, so they count too (no AWS page exempts them).",
        throttle=throttling.PUT_EVENTS,
    ),
    Quota(
        "EventBridge invocations (rule targets)",
        "target_invocations",
        18_750,
        None,
        "yes",
        EB_QUOTAS,
        note="Past it, deliveries are delayed, not refused.",
    ),
    Quota(
        "Lambda concurrent executions",
        "lambda_seconds",
        1_000,
        None,
        "yes",
        LAMBDA_QUOTAS,
        per=" at once",
        note=f"Shared by every function of the account and Region; each function scales by "
        f"at most 1,000 environments per 10 s ({LAMBDA_SCALING}). An order holds "
        "invocations x duration of it (Little's law).",
    ),
    Quota(
        "DynamoDB on-demand writes per table",
        "dynamodb_write_units",
        40_000,
        None,
        "yes",
        DDB_ON_DEMAND,
        note="WRU/s per table (read: 40,000 RRU/s). A new on-demand table serves 4,000 WRU/s "
        "at first and doubles its previous peak within 30 minutes; one partition serves at "
        f"most 1,000 WRU/s ({DDB_PARTITIONS}). Counted as if every table were one.",
    ),
    Quota(
        "DynamoDB on-demand reads per table",
        "dynamodb_read_units",
        40_000,
        None,
        "yes",
        DDB_QUOTAS,
        note="One partition serves at most 3,000 RRU/s.",
    ),
    Quota(
        "API Gateway requests (account)",
        "api_requests",
        10_000,
        5_000,
        "yes (burst: no)",
        APIGW_QUOTAS,
    ),
    Quota(
        "SQS standard queue API calls",
        "sqs_requests",
        float("inf"),
        None,
        "n/a",
        SQS_STANDARD,
        note="'A nearly unlimited number of API calls per second, per API action'; about "
        f"120,000 messages in flight per queue ({SQS_QUOTAS}).",
    ),
)

PROJECT_LIMITS: tuple[Quota, ...] = (
    Quota(
        "Order API stage throttle (this project's setting)",
        "api_submissions",
        50,
        100,
        "cdk.json loyalty:apiRateLimit / apiBurstLimit",
        "stacks/order_api.py, cdk.json",
        note="Per method of the v1 stage: POST /orders takes 50 requests/s (and a decision's "
        "method as many again).",
    ),
    Quota(
        "Vendor quota (the SaaS's, kept by the mediator)",
        "vendor_calls",
        10,
        None,
        "the vendor's; cdk.json loyalty:vendorRequestsPerSecond",
        "stacks/config.py (MediatorConfig.requests_per_second), cdk.json",
        note="Beyond it, vendor requests wait in the mediator's buffer queue.",
    ),
)

"""On-demand list prices, us-east-1, as published on the AWS pricing pages named below and read
on 2026-11-23 (no free tier, no savings plans). Update them here; `bench.cost` reads nothing else.

Sources: aws.amazon.com/step-functions/pricing, /lambda/pricing, /eventbridge/pricing,
/dynamodb/pricing/on-demand, /sqs/pricing, /api-gateway/pricing, /cloudwatch/pricing.
"""

from __future__ import annotations

from typing import Final

PRICES_AS_OF: Final = "2026-11-23"
REGION: Final = "us-east-1"

STANDARD_PER_TRANSITION: Final = 0.025 / 1_000
"""Step Functions Standard: $0.025 per 1,000 state transitions."""

EXPRESS_PER_REQUEST: Final = 1.00 / 1_000_000
EXPRESS_PER_GB_SECOND: Final = 0.00001667
"""Step Functions Express: $1.00 per million requests, $0.00001667 per GB-second (first 1,000
GB-hours a month), billed in 100 ms increments with 64 MB minimum memory."""
EXPRESS_BILLED_GB: Final = 64 / 1024
EXPRESS_BILLING_INCREMENT_S: Final = 0.1

LAMBDA_PER_REQUEST: Final = 0.20 / 1_000_000
LAMBDA_PER_GB_SECOND_ARM: Final = 0.0000133334
"""Lambda on arm64 (Graviton): $0.20 per million requests, $0.0000133334 per GB-second (first
7.5 billion GB-seconds a month), billed per millisecond."""

EVENTBRIDGE_PER_EVENT: Final = 1.00 / 1_000_000
"""EventBridge custom events: $1.00 per million (64 KB chunks); delivery to targets in the same
account is not charged."""
EVENTBRIDGE_ARCHIVE_PER_GB: Final = 0.10
"""Archive: $0.10 per GB of events processed (storage, $0.023 per GB-month, left out)."""

DYNAMODB_PER_WRITE_UNIT: Final = 0.625 / 1_000_000
DYNAMODB_PER_READ_UNIT: Final = 0.125 / 1_000_000
"""DynamoDB on-demand: $0.625 per million write request units, $0.125 per million read request
units (the November 2024 prices)."""

SQS_PER_REQUEST: Final = 0.40 / 1_000_000
"""SQS standard queues: $0.40 per million requests (64 KB chunks)."""

API_GATEWAY_REST_PER_REQUEST: Final = 3.50 / 1_000_000
"""API Gateway REST APIs: $3.50 per million requests (first 333 million a month)."""

CLOUDWATCH_LOGS_PER_GB: Final = 0.50
"""CloudWatch Logs ingestion (standard class): $0.50 per GB."""

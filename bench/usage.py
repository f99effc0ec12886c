"""The billable units one order used, and what they cost at `bench.prices`."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from bench import prices


@dataclass
class OrderUsage:
    """Billable units one order used."""

    name: str
    status: str = ""
    state_transitions: int = 0
    express_requests: int = 0
    express_billed_gb_seconds: float = 0.0
    events: int = 0
    event_bytes: int = 0
    """Bytes the event log received (whole events, and summaries of those with a token)."""
    archive_bytes: int = 0
    """Bytes the archive received: the events without a task token, whole."""
    lambda_invocations: Counter[str] = field(default_factory=Counter)
    lambda_gb_seconds: float = 0.0
    dynamodb_read_units: int = 0
    dynamodb_write_units: int = 0
    sqs_requests: int = 0
    api_requests: int = 0
    log_bytes: int = 0
    waiting_tasks: int = 0

    def dollars(self) -> dict[str, float]:
        """Cost of one order, per service."""
        return {
            "Step Functions Standard": self.state_transitions * prices.STANDARD_PER_TRANSITION,
            "Step Functions Express": self.express_requests * prices.EXPRESS_PER_REQUEST
            + self.express_billed_gb_seconds * prices.EXPRESS_PER_GB_SECOND,
            "EventBridge (events + archive)": self.events * prices.EVENTBRIDGE_PER_EVENT
            + self.archive_bytes / 1e9 * prices.EVENTBRIDGE_ARCHIVE_PER_GB,
            "Lambda": sum(self.lambda_invocations.values()) * prices.LAMBDA_PER_REQUEST
            + self.lambda_gb_seconds * prices.LAMBDA_PER_GB_SECOND_ARM,
            "DynamoDB": self.dynamodb_read_units * prices.DYNAMODB_PER_READ_UNIT
            + self.dynamodb_write_units * prices.DYNAMODB_PER_WRITE_UNIT,
            "SQS": self.sqs_requests * prices.SQS_PER_REQUEST,
            "API Gateway": self.api_requests * prices.API_GATEWAY_REST_PER_REQUEST,
            "CloudWatch Logs": self.log_bytes / 1e9 * prices.CLOUDWATCH_LOGS_PER_GB,
        }

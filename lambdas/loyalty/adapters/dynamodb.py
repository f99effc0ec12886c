"""What every DynamoDB adapter asks of a failed request."""

from __future__ import annotations

from botocore.exceptions import ClientError


def is_condition_failure(err: ClientError) -> bool:
    """The write's condition did not hold (the item was not as expected): an answer, not an
    error."""
    return err.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"

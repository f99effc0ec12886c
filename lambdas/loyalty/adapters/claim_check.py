"""Claim checks: large documents travel as pointers to the orders bucket.

Step Functions state and task input/output are capped at 256 KB and EventBridge at 1 MB, so an
order larger than ``MAX_INLINE_BYTES`` is written to S3 (SSE, SSL-only, private) and replaced by
``{"claim_check": {"bucket", "key", "bytes"}}``; whoever needs the order reads it back by key.
Pointers never leave the order-processing service's own roles: a consumer elsewhere would get a
presigned URL instead.
"""

from __future__ import annotations

import json
from typing import Any

from loyalty.contract import CLAIM_CHECK_FIELD, MAX_INLINE_BYTES


def is_claim_check(value: Any) -> bool:
    return isinstance(value, dict) and isinstance(value.get(CLAIM_CHECK_FIELD), dict)


def encoded_size(document: Any) -> int:
    return len(json.dumps(document, separators=(",", ":"), default=str).encode())


class ClaimCheck:
    def __init__(self, *, client: Any, bucket: str) -> None:
        self._client = client
        self._bucket = bucket

    def store(self, key: str, document: Any) -> dict[str, Any]:
        body = json.dumps(document, separators=(",", ":"), default=str).encode()
        self._client.put_object(
            Bucket=self._bucket, Key=key, Body=body, ContentType="application/json"
        )
        return {CLAIM_CHECK_FIELD: {"bucket": self._bucket, "key": key, "bytes": len(body)}}

    def load(self, pointer: dict[str, Any]) -> Any:
        location = pointer[CLAIM_CHECK_FIELD]
        body = self._client.get_object(Bucket=location["bucket"], Key=location["key"])["Body"]
        return json.loads(body.read())

    def resolve(self, value: Any) -> Any:
        """The document itself, whether ``value`` is the document or a claim check for it."""
        return self.load(value) if is_claim_check(value) else value

    def inline_or_store(self, key: str, document: Any) -> Any:
        """``document`` itself when it is small enough to travel, else a claim check for it."""
        if encoded_size(document) <= MAX_INLINE_BYTES:
            return document
        return self.store(key, document)

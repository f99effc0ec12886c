"""Stripe-style idempotency keys: the answer each key produced, replayed for the same request and
refused for a different one, and looked up by key (``GET /v1/idempotency-keys/{key}``)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from fake_vendor.wire import Reply, Request, error, json_reply


@dataclass(frozen=True)
class StoredAnswer:
    fingerprint: str
    status: int
    body: bytes


def fingerprint(request: Request) -> str:
    """The request's identity for key reuse: method, path and body, the body as canonical JSON
    when it parses (key order and whitespace do not make a different request), raw otherwise."""
    try:
        canonical = json.dumps(json.loads(request.body), sort_keys=True, separators=(",", ":"))
        body = canonical.encode()
    except ValueError:
        body = request.body
    digest = hashlib.sha256(f"{request.method}\n{request.path}\n".encode())
    digest.update(body)
    return digest.hexdigest()


class IdempotencyStore:
    """The stored answer of every key. Not thread-safe: the vendor calls it under its lock."""

    def __init__(self) -> None:
        self._answers: dict[str, StoredAnswer] = {}
        self.replays = 0

    def clear(self) -> None:
        self._answers.clear()
        self.replays = 0

    def replay(self, key: str, request: Request) -> Reply | None:
        """The stored answer again (counted as a replay), the refusal of a key reused for another
        request, or None when the key is new."""
        stored = self._answers.get(key)
        if stored is None:
            return None
        key_header = (("Idempotency-Key", key),)
        if stored.fingerprint != fingerprint(request):
            return error(
                422,
                "idempotency_key_reused",
                "this Idempotency-Key was already used with a different request",
                headers=key_header,
            )
        self.replays += 1
        return Reply(
            status=stored.status,
            body=stored.body,
            headers=(*key_header, ("Idempotent-Replayed", "true")),
        )

    def store(self, key: str, request: Request, reply: Reply) -> None:
        self._answers[key] = StoredAnswer(fingerprint(request), reply.status, reply.body)

    def lookup(self, key: str) -> Reply:
        # Read-only: not a replay (not counted as one, no Idempotent-Replayed header) and it
        # ignores the request fingerprint, since the caller wants whatever the key produced.
        stored = self._answers.get(key)
        if stored is None:
            return error(
                404,
                "idempotency_key_not_found",
                f"no request with Idempotency-Key {key!r} has been processed",
            )
        return json_reply(
            200,
            {"idempotency_key": key, "status": stored.status, "response": json.loads(stored.body)},
        )

"""A minimal JSON client for the local Order API (what `make run`, the e2e tests and the README's
curl examples do). Its methods use IAM authorization, so a client with ``credentials`` signs every
request with Signature Version 4 for ``execute-api``, as an AWS SDK or ``curl --aws-sigv4`` does;
without them its requests are unsigned (and refused ``403``)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials


@dataclass(frozen=True)
class ApiResponse:
    status: int
    body: dict[str, Any]
    headers: dict[str, str]


class ApiClient:
    def __init__(
        self,
        base_url: str,
        *,
        credentials: Credentials | None = None,
        region: str = "us-east-1",
        timeout: float = 10,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._signer = SigV4Auth(credentials, "execute-api", region) if credentials else None
        self._timeout = timeout

    def call(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> ApiResponse:
        url = self.base_url + path
        data = json.dumps(body).encode() if body is not None else None
        all_headers = {"Content-Type": "application/json", **(headers or {})}
        if self._signer is not None:
            signed = AWSRequest(method=method, url=url, data=data, headers=all_headers)
            self._signer.add_auth(signed)
            all_headers = dict(signed.headers.items())
        request = urllib.request.Request(  # noqa: S310 - the base URL is the local API's
            url, method=method, data=data, headers=all_headers
        )
        try:
            with urllib.request.urlopen(request, timeout=self._timeout) as response:  # noqa: S310
                return ApiResponse(response.status, _json(response.read()), dict(response.headers))
        except urllib.error.HTTPError as error:
            return ApiResponse(error.code, _json(error.read()), dict(error.headers))

    def submit(self, order: dict[str, Any], idempotency_key: str | None = None) -> ApiResponse:
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        return self.call("POST", "/orders", order, headers)

    def order(self, reference: str) -> ApiResponse:
        return self.call("GET", f"/orders/{reference}")

    def decide(self, reference: str, decision: str, comment: str | None = None) -> ApiResponse:
        body = {"decision": decision, **({"comment": comment} if comment else {})}
        return self.call("POST", f"/orders/{reference}/actions/approval", body)

    def retry(self, reference: str, comment: str | None = None) -> ApiResponse:
        return self._operator_action(reference, "retry", comment)

    def cancel(self, reference: str, comment: str | None = None) -> ApiResponse:
        return self._operator_action(reference, "cancel", comment)

    def _operator_action(self, reference: str, action: str, comment: str | None) -> ApiResponse:
        body = {"comment": comment} if comment else {}
        return self.call("POST", f"/orders/{reference}/actions/{action}", body)


def _json(raw: bytes) -> dict[str, Any]:
    if not raw:
        return {}
    loaded = json.loads(raw)
    return loaded if isinstance(loaded, dict) else {"value": loaded}

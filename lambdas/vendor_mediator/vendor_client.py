"""HTTP client of the third-party loyalty SaaS (the *vendor*).

Every call has a connect and a read timeout and an ``Idempotency-Key``; there are no hidden
retries here (urllib3's are off) because retry policy belongs to the mediator. Answers are
classified into three errors the mediator can act on:

* ``VendorRejectedError`` — a permanent 4xx other than 401/403: the vendor understood and said
  no (unknown voucher, insufficient points). Retrying cannot help.
* ``VendorUnavailableError`` — 5xx, 429, timeouts, connection errors, and 401/403 (our API key
  is wrong or was rotated: an operator's problem, not the order's; the key is fetched afresh for
  the next call): the vendor may say yes later.
* ``VendorProtocolError`` — a 2xx that is not the JSON the API documents.

Each failure also says whether the effect **may have been applied** (``maybe_applied``), from what
the vendor's HTTP contract promises: a refused or timed-out *connection* never carried the request;
``429``, ``503``, ``401`` and ``403`` are answered before any processing (RFC 6585 and RFC 9110:
the server did not handle the request); anything else — a read timeout or a dropped connection
after the request was sent, another ``5xx`` (a gateway may answer ``502``/``504`` after the vendor
committed), a malformed ``2xx`` — leaves the outcome unknown until the same idempotency key is
asked again. The mediator never reports "not applied" for those.

Some operations the vendor does asynchronously: it answers ``202 Accepted`` with a job id and a
status URL (a ``VendorJob``), applies the operation later, and tells how the job ended at that
URL (``job_status``: pending, succeeded with the effect's id, or failed with the vendor's code).
An accepted job may be applied at any time until it says otherwise. The status URL must be a
path on the vendor's own base URL: a client that followed any URL the answer named could be sent
anywhere with our API key.

The errors' texts are ours: the vendor's error *code* (an identifier) and the HTTP status. The
vendor's free-text message may quote member data (a points balance), so it is kept apart in
``vendor_message``, for the mediator's logs only: it never travels in an answer, a record or an
API response.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote

import urllib3

PointsOperation = Literal["credit", "deduct"]
RedemptionKind = Literal["voucher", "reward"]


class VendorRejectedError(Exception):
    def __init__(self, status: int, code: str, vendor_message: str | None = None) -> None:
        super().__init__(f"{code} (HTTP {status})")
        self.status = status
        self.code = code
        self.vendor_message = vendor_message


class VendorUnavailableError(Exception):
    def __init__(
        self,
        reason: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        maybe_applied: bool = True,
        vendor_message: str | None = None,
    ) -> None:
        super().__init__(reason)
        self.status = status
        self.retry_after = retry_after
        self.maybe_applied = maybe_applied
        self.vendor_message = vendor_message


class VendorProtocolError(Exception):
    """A 2xx the API does not document: the vendor answered *after* processing, so the effect
    may well have been applied."""

    maybe_applied = True


NOT_HANDLED_STATUSES = frozenset({401, 403, 429, 503})
"""Answers given before the request was processed (see the module docstring)."""

JobState = Literal["pending", "succeeded", "failed"]


@dataclass(frozen=True)
class VendorJob:
    """A ``202 Accepted``: the vendor took the request and applies it in a job."""

    job_id: str
    status_url: str
    """A path on the vendor's base URL."""


@dataclass(frozen=True)
class JobStatus:
    state: JobState
    reference: str | None = None
    """The effect's id (``transaction_id``, ``redemption_id`` or ``reversal_id``), once
    succeeded."""
    code: str | None = None
    """The vendor's error code, once failed."""


Accepted = str | VendorJob
"""What a vendor operation gives back: the effect's id, or the job that will apply it."""


class VendorClient:
    def __init__(
        self,
        *,
        base_url: str,
        api_key: Callable[[bool], str],
        connect_timeout: float,
        read_timeout: float,
        pool: urllib3.PoolManager | None = None,
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._api_key = api_key
        self._refresh_key = False
        self._timeout = urllib3.Timeout(connect=connect_timeout, read=read_timeout)
        self._pool = pool or urllib3.PoolManager(maxsize=10)

    def apply_points(
        self,
        operation: PointsOperation,
        *,
        account: str,
        points: int,
        order_reference: str,
        merchant_reference: str,
        idempotency_key: str,
    ) -> Accepted:
        """Credit or deduct points; returns the vendor's transaction id (or its job)."""
        body = {
            "operation": operation,
            "points": points,
            "order_reference": order_reference,
            "merchant_reference": merchant_reference,
        }
        path = f"/v1/accounts/{quote(account, safe='')}/points"
        return _accepted(*self._send("POST", path, body, idempotency_key), "transaction_id")

    def redeem(
        self,
        kind: RedemptionKind,
        *,
        code: str,
        account: str,
        order_reference: str,
        idempotency_key: str,
    ) -> Accepted:
        """Redeem a voucher or an instant reward; returns the vendor's redemption id (or its
        job)."""
        body = {"account": account, "order_reference": order_reference}
        path = f"/v1/{kind}s/{quote(code, safe='')}/redemptions"
        return _accepted(*self._send("POST", path, body, idempotency_key), "redemption_id")

    def reverse_redemption(
        self,
        kind: RedemptionKind,
        *,
        code: str,
        account: str,
        order_reference: str,
        idempotency_key: str,
    ) -> Accepted:
        """Reverse this order's redemption of a voucher or instant reward, freeing the code again
        (compensation); returns the vendor's reversal id.

        The vendor refuses (``VendorRejectedError``, ``<kind>_not_redeemed``) a code that is not
        redeemed by ``account`` for ``order_reference``. Points have no reversal call: apply the
        opposite operation with ``apply_points`` under a key of its own.
        """
        body = {"account": account, "order_reference": order_reference}
        path = f"/v1/{kind}s/{quote(code, safe='')}/reversals"
        return _accepted(*self._send("POST", path, body, idempotency_key), "reversal_id")

    def job_status(self, job: VendorJob, reference_field: str) -> JobStatus:
        """How the vendor's job stands; a succeeded job's result names ``reference_field``.

        A job the vendor says it does not know (a 4xx other than 401/403/429) is a
        ``VendorProtocolError``: it accepted the job, so its effect is still in doubt."""
        try:
            status, answer = self._send("GET", job.status_url)
        except VendorRejectedError as err:
            raise VendorProtocolError(
                f"the vendor does not know its job {job.job_id}: {err}"
            ) from err
        if status != 200:
            raise VendorProtocolError(f"HTTP {status} for the status of job {job.job_id}")
        state = answer.get("status")
        if state == "pending":
            return JobStatus("pending")
        if state == "succeeded":
            result = answer.get("result")
            reference = _field(result if isinstance(result, dict) else {}, reference_field)
            return JobStatus("succeeded", reference=reference)
        if state == "failed":
            failure = answer.get("error")
            return JobStatus(
                "failed", code=_code(failure.get("code") if isinstance(failure, dict) else None)
            )
        raise VendorProtocolError(f"job {job.job_id} has no status the API documents")

    def _send(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> tuple[int, dict[str, Any]]:
        headers = {"x-api-key": self._api_key(self._refresh_key)}
        if body is not None:
            headers["Content-Type"] = "application/json"
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        try:
            response = self._pool.request(
                method,
                self._base_url + path,
                body=None if body is None else json.dumps(body).encode(),
                headers=headers,
                timeout=self._timeout,
                retries=False,
            )
        except urllib3.exceptions.ConnectTimeoutError as err:
            # Refused, unresolvable or timed out while connecting: the request never left.
            raise VendorUnavailableError(
                f"{type(err).__name__}: {err}", maybe_applied=False
            ) from err
        except urllib3.exceptions.HTTPError as err:  # read timeouts, resets after sending
            raise VendorUnavailableError(f"{type(err).__name__}: {err}") from err
        status = response.status
        self._refresh_key = status in (401, 403)
        if status >= 400:
            code, message = _error_parts(response.data)
            if status in (401, 403):
                raise VendorUnavailableError(
                    f"HTTP {status} {code}: the vendor refused our API key",
                    status=status,
                    maybe_applied=False,
                    vendor_message=message,
                )
            if status == 429 or status >= 500:
                raise VendorUnavailableError(
                    f"HTTP {status} {code}",
                    status=status,
                    vendor_message=message,
                    retry_after=_retry_after(response.headers.get("Retry-After")),
                    maybe_applied=status not in NOT_HANDLED_STATUSES,
                )
            raise VendorRejectedError(status, code, message)
        try:
            answer = json.loads(response.data)
        except ValueError as err:
            raise VendorProtocolError(f"HTTP {status} with a body that is not JSON") from err
        if not isinstance(answer, dict):
            raise VendorProtocolError(f"HTTP {status} with a JSON body that is not an object")
        return status, answer


_JOB_PATH = re.compile(r"/(?!/)[A-Za-z0-9._~!$&'()*+,;=:@%/-]*")
"""A path on the vendor's base URL: no scheme, no host (not ``//host``), no query."""


def _accepted(status: int, answer: dict[str, Any], name: str) -> Accepted:
    if status != 202:
        return _field(answer, name)
    job_id, status_url = answer.get("job_id"), answer.get("status_url")
    if not isinstance(job_id, str) or not job_id:
        raise VendorProtocolError("vendor answer 202 has no job_id")
    if not isinstance(status_url, str) or not _JOB_PATH.fullmatch(status_url):
        raise VendorProtocolError(
            "vendor answer 202 has no status_url that is a path on the vendor's base URL"
        )
    return VendorJob(job_id, status_url)


def _field(answer: dict[str, Any], name: str) -> str:
    value = answer.get(name)
    if not isinstance(value, str) or not value:
        raise VendorProtocolError(f"vendor answer has no {name}")
    return value


_ERROR_CODE = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,63}")
"""What an error code looks like: an identifier (anything else could be free text)."""


def _error_parts(body: bytes) -> tuple[str, str]:
    """The vendor's error code (``unknown`` unless it is an identifier) and its message."""
    try:
        error = json.loads(body)["error"]
        code, message = str(error["code"]), str(error["message"])
    except (ValueError, KeyError, TypeError):
        return "unknown", body[:200].decode(errors="replace") or "no reason given"
    return _code(code), message


def _code(value: object) -> str:
    """A vendor error code as we repeat it: ``unknown`` unless it is an identifier (anything else
    could be free text)."""
    return value if isinstance(value, str) and _ERROR_CODE.fullmatch(value) else "unknown"


def _retry_after(raw: str | None) -> float | None:
    if raw is None:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        return None  # an HTTP date; the caller falls back to its own backoff

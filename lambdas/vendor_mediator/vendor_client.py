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

The errors' texts are ours: the vendor's error *code* (an identifier) and the HTTP status. The
vendor's free-text message may quote member data (a points balance), so it is kept apart in
``vendor_message``, for the mediator's logs only: it never travels in an answer, a record or an
API response.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
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
    ) -> str:
        """Credit or deduct points; returns the vendor's transaction id."""
        body = {
            "operation": operation,
            "points": points,
            "order_reference": order_reference,
            "merchant_reference": merchant_reference,
        }
        answer = self._post(f"/v1/accounts/{quote(account, safe='')}/points", body, idempotency_key)
        return _field(answer, "transaction_id")

    def redeem(
        self,
        kind: RedemptionKind,
        *,
        code: str,
        account: str,
        order_reference: str,
        idempotency_key: str,
    ) -> str:
        """Redeem a voucher or an instant reward; returns the vendor's redemption id."""
        body = {"account": account, "order_reference": order_reference}
        path = f"/v1/{kind}s/{quote(code, safe='')}/redemptions"
        return _field(self._post(path, body, idempotency_key), "redemption_id")

    def reverse_redemption(
        self,
        kind: RedemptionKind,
        *,
        code: str,
        account: str,
        order_reference: str,
        idempotency_key: str,
    ) -> str:
        """Reverse this order's redemption of a voucher or instant reward, freeing the code again
        (compensation); returns the vendor's reversal id.

        The vendor refuses (``VendorRejectedError``, ``<kind>_not_redeemed``) a code that is not
        redeemed by ``account`` for ``order_reference``. Points have no reversal call: apply the
        opposite operation with ``apply_points`` under a key of its own.
        """
        body = {"account": account, "order_reference": order_reference}
        path = f"/v1/{kind}s/{quote(code, safe='')}/reversals"
        return _field(self._post(path, body, idempotency_key), "reversal_id")

    def _post(self, path: str, body: dict[str, Any], idempotency_key: str) -> dict[str, Any]:
        try:
            response = self._pool.request(
                "POST",
                self._base_url + path,
                body=json.dumps(body).encode(),
                headers={
                    "Content-Type": "application/json",
                    "x-api-key": self._api_key(self._refresh_key),
                    "Idempotency-Key": idempotency_key,
                },
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
        return answer


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
    return (code if _ERROR_CODE.fullmatch(code) else "unknown"), message


def _retry_after(raw: str | None) -> float | None:
    if raw is None:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        return None  # an HTTP date; the caller falls back to its own backoff

"""Fake third-party loyalty vendor for the embedded local cloud.

The Vendor Mediator Lambda is the only caller of a third-party loyalty SaaS (points ledger,
voucher redemptions, instant rewards). That SaaS cannot be reached from a laptop or CI, and even
if it could, it would not misbehave on demand. ``FakeVendor`` is a local stand-in for it: an
in-process HTTP server on 127.0.0.1 that speaks the vendor's JSON API with realistic semantics
(API-key auth, business errors, Stripe-style idempotency keys) and has fault knobs (errors,
throttling, token-bucket rate limits, outages, latency, hung responses, lost responses, garbage
bodies, malformed successes) so the mediator's retries, circuit breaking and idempotency can be
exercised locally.

It is test and local-development tooling only: it is never packaged into a Lambda asset or
deployed to AWS.

HTTP contract
-------------
The mediator classifies every failure by what it proves about the effect, so this fake keeps the
following promises (every fault knob included) and a mediator may rely on them:

* **429 and 503 are answered before any processing.** The request was not applied and its
  Idempotency-Key was not stored, so retrying it (after ``Retry-After`` when sent) with the same
  key is safe and takes effect for the first time. That is what the status codes say: RFC 9110
  (section 15.6.4) describes 503 as the server being currently unable to handle the request, and
  RFC 6585 (section 4) describes 429 as a refusal because the client sent too many requests.
  Outages, ``rate_limit_rps``, ``throttle_rate`` and ``error_rate`` are all decided before the
  request is processed; no fault produces a 429 or 503 afterwards.
* **Indeterminate: the effect may have been applied.** A 500, 502 or 504, a read timeout, a
  connection dropped after the request was sent, and a 2xx without the expected JSON body (not
  JSON at all, or lacking ``transaction_id`` / ``redemption_id`` / ``reversal_id``). To learn the
  outcome, replay the same request with the same Idempotency-Key (a stored answer comes back
  with ``Idempotent-Replayed: true``) or look the key up with ``GET /v1/idempotency-keys/{key}``:
  ``200`` carries the stored status and body, ``404 idempotency_key_not_found`` means the vendor
  has not processed that key (yet: an attempt still on its way may land later).
* **Any other 4xx is definitive: this request applied nothing.** A 400 is not stored (the key
  stays usable for a corrected request); a business refusal of a POST (404 unknown account or
  code, 409 already redeemed or not redeemed, 422 insufficient points) is stored under its key
  and replayed like a success; 422 ``idempotency_key_reused`` means the key belongs to a
  different request, whose own outcome stands. 401, 405, 411 and 413 are refused before anything
  is read or stored.

Endpoints
---------
Everything but ``/health`` needs the ``x-api-key`` header. Every ``POST`` needs an
``Idempotency-Key`` header (``400 idempotency_key_required`` without one) and a JSON object body
with exactly the fields shown (a missing, unknown or ill-typed field is ``400 invalid_request``).
``<kind>`` is ``voucher`` or ``reward``.

* ``GET /health`` → ``200 {"status": "ok"}``.
* ``GET /v1/accounts/{account}`` → ``200 {"account", "balance"}``; ``404 account_not_found``.
* ``POST /v1/accounts/{account}/points``
  ``{"operation": "credit" | "deduct", "points", "order_reference", "merchant_reference"}`` →
  ``201 {"transaction_id", "account", "operation", "points", "balance"}``;
  ``404 account_not_found``; ``422 insufficient_points``. Points have no reversal endpoint: a
  credit is reversed by a ``deduct`` of the same points (and a deduct by a ``credit``) under an
  Idempotency-Key of its own; that deduct is refused with ``422 insufficient_points`` if the
  member has spent the points meanwhile.
* ``POST /v1/vouchers/{code}/redemptions``, ``POST /v1/rewards/{code}/redemptions``
  ``{"account", "order_reference"}`` → ``201 {"redemption_id", "<kind>_code", "account"}``;
  ``404 <kind>_not_found`` or ``account_not_found``; ``409 <kind>_already_redeemed``.
* ``POST /v1/vouchers/{code}/reversals``, ``POST /v1/rewards/{code}/reversals``
  ``{"account", "order_reference"}`` reverses the code's current redemption, to compensate an
  order that failed after it was applied: the code becomes redeemable again →
  ``201 {"reversal_id", "redemption_id", "<kind>_code", "account"}`` (``redemption_id`` is the
  reversed one); ``404 <kind>_not_found`` or ``account_not_found``; ``409 <kind>_not_redeemed``
  when the code is not redeemed at the moment, or not by that account for that order (a
  reversal only undoes the caller's own redemption). Redeeming the code again needs a new
  Idempotency-Key: the first redemption's key replays its stored answer and applies nothing.
* ``GET /v1/idempotency-keys/{key}`` → ``200 {"idempotency_key", "status", "response"}``;
  ``404 idempotency_key_not_found`` (see above).
* ``POST /_admin/faults`` (a ``FaultProfile`` in its wire form) and ``GET /_admin/stats``: the
  test harness's, not counted in the stats.

Typical use::

    with FakeVendor() as vendor:
        vendor.add_account("member-1", balance=100)
        vendor.faults = FaultProfile.named("flaky")
        ...  # point the mediator at vendor.base_url with api key "local-vendor-key"
        vendor.start_fault_clock()  # outage offsets count from the first request under test
        assert len(vendor.ledger()) == 1
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import ipaddress
import json
import logging
import math
import random
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from decimal import ROUND_CEILING, Decimal
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, cast
from urllib.parse import unquote, urlsplit

logger = logging.getLogger(__name__)

Operation = Literal["credit", "deduct"]
RedemptionKind = Literal["voucher", "reward"]

DEFAULT_API_KEY = "local-vendor-key"
# Generous for this API (bodies are a few hundred bytes) but bounded, so a runaway client cannot
# make a handler thread buffer an unbounded body.
MAX_BODY_BYTES = 64 * 1024
MAX_POINTS = 1_000_000_000
MAX_IDEMPOTENCY_KEY_LENGTH = 255
MAX_REFERENCE_LENGTH = 255

_RATE_FIELDS = (
    "error_rate",
    "lost_response_rate",
    "throttle_rate",
    "timeout_rate",
    "garbage_rate",
    "malformed_success_rate",
)
_DURATION_FIELDS = (
    "retry_after_seconds",
    "latency_ms",
    "latency_jitter_ms",
    "timeout_sleep_seconds",
)
# A 200 whose body is an HTML error page but whose Content-Type still claims JSON: what a
# misconfigured proxy in front of a SaaS really returns. The header lies on purpose so a client
# cannot get away with trusting it instead of handling a parse failure.
_GARBAGE_BODY = (
    b"<html><head><title>Service Temporarily Unavailable</title></head>"
    b"<body><h1>Maintenance</h1><p>upstream returned an unexpected page</p></body></html>"
)
# A 2xx that is valid JSON but lacks the id the client needs (transaction_id / redemption_id):
# what a vendor sends when its answer is built before the effect's id is known, or a gateway
# substitutes a canned acknowledgement. Parsing succeeds, so only a client that checks the body
# against the contract notices.
_MALFORMED_SUCCESS_BODY = b'{"status":"accepted"}'


def _is_number(value: object) -> bool:
    # bool is an int subclass; `"error_rate": true` in a config is a mistake, not 1.0.
    return isinstance(value, int | float) and not isinstance(value, bool)


@dataclass(frozen=True)
class FaultProfile:
    """How the fake vendor misbehaves. All rates are probabilities in [0, 1] drawn per request.

    Frozen on purpose: swap the whole profile (``vendor.faults = ...``, or
    ``dataclasses.replace``) so the vendor can re-seed its RNG, refill its token bucket and start
    its fault clock at a well-defined moment, and every profile in use has passed validation.

    ``outages`` are ``(start, end)`` offsets in seconds on the vendor's *fault clock*, not points
    in time: a profile means the same thing however long it waits between being built and being
    applied (a run parses its profile, then deploys, then sends its first order). The clock starts
    when the profile is applied to a vendor and restarts with ``FakeVendor.start_fault_clock()``.

    ``error_rate``, ``throttle_rate``, ``rate_limit_rps``, ``garbage_rate`` and outages act before
    the request is processed (nothing applied); ``timeout_rate``, ``lost_response_rate`` and
    ``malformed_success_rate`` act after it (the effect is applied and its answer stored).
    """

    error_rate: float = 0.0
    lost_response_rate: float = 0.0
    throttle_rate: float = 0.0
    rate_limit_rps: float | None = None
    retry_after_seconds: float = 1.0
    latency_ms: float = 0.0
    latency_jitter_ms: float = 0.0
    timeout_rate: float = 0.0
    timeout_sleep_seconds: float = 5.0
    garbage_rate: float = 0.0
    # A fresh 2xx whose body lacks its id ({"status": "accepted"}); the real answer stays stored.
    malformed_success_rate: float = 0.0
    # (start, end) offsets in seconds from the start of the fault clock; a request whose offset is
    # in [start, end) gets a 503.
    outages: list[tuple[float, float]] = field(default_factory=list)
    seed: int | None = None

    def __post_init__(self) -> None:
        # Validated here rather than only in from_dict so a profile built in Python is held to the
        # same rules as one posted to /_admin/faults. ValueError (never TypeError) so the admin
        # endpoint can turn any bad profile into a 400.
        for name in _RATE_FIELDS:
            value = getattr(self, name)
            if not _is_number(value) or not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be a number between 0 and 1, got {value!r}")
        for name in _DURATION_FIELDS:
            value = getattr(self, name)
            if not _is_number(value) or not math.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
        rps = self.rate_limit_rps
        if rps is not None and (not _is_number(rps) or not math.isfinite(rps) or rps <= 0):
            raise ValueError(f"rate_limit_rps must be null or a finite number > 0, got {rps!r}")
        if self.seed is not None and (
            not isinstance(self.seed, int) or isinstance(self.seed, bool)
        ):
            raise ValueError(f"seed must be null or an integer, got {self.seed!r}")
        if not isinstance(self.outages, list | tuple):
            raise ValueError(
                f"outages must be a list of [start_offset_s, end_offset_s] pairs, "
                f"got {self.outages!r}"
            )
        # Normalise to a fresh list of float pairs: callers may pass lists (JSON) or tuples.
        object.__setattr__(self, "outages", [_outage_window(w) for w in self.outages])

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FaultProfile:
        """Build a profile from its wire form (the body of ``POST /_admin/faults``).

        Outages are ``[[start_offset_s, end_offset_s], ...]`` and are kept as offsets: they count
        from when the profile is applied to a vendor (or its fault clock is restarted), not from
        when it was parsed, so a deploy between the two does not eat the outage. Unknown keys
        raise ValueError naming them, so a typo such as ``error_rte`` fails loudly instead of
        silently injecting nothing.
        """
        if not isinstance(data, Mapping):
            raise ValueError(f"fault profile must be a JSON object, got {type(data).__name__}")
        known = [f.name for f in fields(cls)]
        unknown = sorted(str(key) for key in data if key not in known)
        if unknown:
            raise ValueError(
                f"unknown fault profile key(s): {', '.join(unknown)}; "
                f"known keys: {', '.join(known)}"
            )
        return cls(**data)

    @classmethod
    def load(cls, name_or_path: str) -> FaultProfile:
        """A preset's name (see ``named``) or the path of a JSON file of knobs."""
        path = Path(name_or_path)
        if path.suffix == ".json":
            try:
                data = json.loads(path.read_text())
            except (OSError, ValueError) as err:
                raise ValueError(f"cannot read fault profile {name_or_path}: {err}") from err
            return cls.from_dict(data)
        return cls.named(name_or_path)

    @classmethod
    def named(cls, name: str) -> FaultProfile:
        """A preset profile: healthy, flaky, throttled, outage or slow.

        ``outage`` is down for the first 3 s of the fault clock: from when it is applied, or from
        ``FakeVendor.start_fault_clock()``.
        """
        presets: dict[str, Callable[[], FaultProfile]] = {
            "healthy": cls,
            # latency 20 ms + uniform 0..20 ms jitter.
            "flaky": lambda: cls(
                error_rate=0.2, lost_response_rate=0.05, latency_ms=20.0, latency_jitter_ms=20.0
            ),
            "throttled": lambda: cls(rate_limit_rps=5.0, retry_after_seconds=0.2),
            "outage": lambda: cls(outages=[(0.0, 3.0)]),
            "slow": lambda: cls(latency_ms=200.0),
        }
        factory = presets.get(name)
        if factory is None:
            raise ValueError(
                f"unknown fault profile preset {name!r}; known presets: {', '.join(presets)}"
            )
        return factory()


def _outage_window(window: object) -> tuple[float, float]:
    if (
        not isinstance(window, list | tuple)
        or len(window) != 2
        or not all(_is_number(v) and math.isfinite(v) for v in window)
    ):
        raise ValueError(
            f"outages: each must be a [start_offset_s, end_offset_s] pair of finite numbers, "
            f"got {window!r}"
        )
    start, end = float(window[0]), float(window[1])
    if start < 0:
        raise ValueError(
            f"outages: offsets are seconds into the fault clock and must be >= 0, got {window!r}"
        )
    if end <= start:
        raise ValueError(f"outages: each must end after it starts, got {window!r}")
    return start, end


@dataclass(frozen=True)
class LedgerEntry:
    """A points operation that took effect on an account."""

    transaction_id: str
    account: str
    operation: Operation
    points: int
    order_reference: str
    merchant_reference: str
    idempotency_key: str
    at: float


@dataclass(frozen=True)
class Redemption:
    """A voucher or instant-reward redemption that took effect.

    ``reversal_id`` is set once the redemption has been reversed (see ``Reversal``); the record
    stays in ``FakeVendor.redemptions()`` either way.
    """

    redemption_id: str
    kind: RedemptionKind
    code: str
    account: str
    order_reference: str
    idempotency_key: str
    at: float
    reversal_id: str | None = None

    @property
    def reversed(self) -> bool:
        return self.reversal_id is not None


@dataclass(frozen=True)
class Reversal:
    """A reversal of a redemption (``redemption_id``) that took effect: the code was freed."""

    reversal_id: str
    kind: RedemptionKind
    code: str
    account: str
    order_reference: str
    redemption_id: str
    idempotency_key: str
    at: float


@dataclass(frozen=True)
class VendorStats:
    """Counters over the vendor API (``/health`` and ``/v1``; admin calls are not counted)."""

    requests_total: int
    by_status: dict[int, int]
    by_endpoint: dict[str, int]
    idempotent_replays: int
    faults_injected: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        return {
            "requests_total": self.requests_total,
            # JSON object keys are strings.
            "by_status": {str(status): n for status, n in sorted(self.by_status.items())},
            "by_endpoint": dict(sorted(self.by_endpoint.items())),
            "idempotent_replays": self.idempotent_replays,
            "faults_injected": dict(sorted(self.faults_injected.items())),
        }


# --------------------------------------------------------------------------------------------
# Internals
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Reply:
    status: int
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()
    content_type: str | None = "application/json"
    # Seconds the handler waits (outside the lock) before answering: latency and hung responses.
    delay_seconds: float = 0.0


@dataclass(frozen=True)
class _Request:
    method: str
    path: str
    api_key: str | None
    idempotency_key: str | None
    body: bytes
    # Set when the HTTP framing itself was unusable (bad Content-Length, chunked, too large).
    framing_error: _Reply | None = None


@dataclass(frozen=True)
class _StoredAnswer:
    fingerprint: str
    status: int
    body: bytes


@dataclass(frozen=True)
class _Route:
    name: str
    method: str
    template: str
    pattern: re.Pattern[str]
    area: Literal["health", "admin", "v1"]

    @property
    def label(self) -> str:
        return f"{self.method} {self.template}"


_ROUTES = (
    _Route("health", "GET", "/health", re.compile(r"/health"), "health"),
    _Route("admin_faults", "POST", "/_admin/faults", re.compile(r"/_admin/faults"), "admin"),
    _Route("admin_stats", "GET", "/_admin/stats", re.compile(r"/_admin/stats"), "admin"),
    _Route(
        "get_account",
        "GET",
        "/v1/accounts/{account}",
        re.compile(r"/v1/accounts/(?P<account>[^/]+)"),
        "v1",
    ),
    _Route(
        "post_points",
        "POST",
        "/v1/accounts/{account}/points",
        re.compile(r"/v1/accounts/(?P<account>[^/]+)/points"),
        "v1",
    ),
    _Route(
        "redeem_voucher",
        "POST",
        "/v1/vouchers/{code}/redemptions",
        re.compile(r"/v1/vouchers/(?P<code>[^/]+)/redemptions"),
        "v1",
    ),
    _Route(
        "redeem_reward",
        "POST",
        "/v1/rewards/{code}/redemptions",
        re.compile(r"/v1/rewards/(?P<code>[^/]+)/redemptions"),
        "v1",
    ),
    _Route(
        "reverse_voucher",
        "POST",
        "/v1/vouchers/{code}/reversals",
        re.compile(r"/v1/vouchers/(?P<code>[^/]+)/reversals"),
        "v1",
    ),
    _Route(
        "reverse_reward",
        "POST",
        "/v1/rewards/{code}/reversals",
        re.compile(r"/v1/rewards/(?P<code>[^/]+)/reversals"),
        "v1",
    ),
    _Route(
        "get_idempotency_key",
        "GET",
        "/v1/idempotency-keys/{key}",
        re.compile(r"/v1/idempotency-keys/(?P<key>[^/]+)"),
        "v1",
    ),
)


class _InvalidRequestError(Exception):
    """A request body that fails validation; becomes 400 invalid_request and is never stored."""


def _json_bytes(payload: Mapping[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()


def _json_reply(
    status: int, payload: Mapping[str, Any], headers: tuple[tuple[str, str], ...] = ()
) -> _Reply:
    return _Reply(status=status, body=_json_bytes(payload), headers=headers)


def _error(
    status: int, code: str, message: str, headers: tuple[tuple[str, str], ...] = ()
) -> _Reply:
    return _json_reply(status, {"error": {"code": code, "message": message}}, headers)


def _format_seconds(seconds: float) -> str:
    # Retry-After is usually an integer, but this vendor sends fractional seconds so local retries
    # stay fast. Round up to the millisecond so a client that obeys it never comes back early.
    value = Decimal(str(max(0.0, seconds))).quantize(Decimal("0.001"), rounding=ROUND_CEILING)
    return format(value.normalize(), "f")


def _parse_json_object(body: bytes) -> dict[str, Any]:
    if not body.strip():
        raise _InvalidRequestError("request body is empty; expected a JSON object")

    def reject_constant(name: str) -> Any:
        raise _InvalidRequestError(f"request body is not valid JSON: {name} is not allowed")

    try:
        payload = json.loads(body, parse_constant=reject_constant)
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are both ValueErrors
        raise _InvalidRequestError(f"request body is not valid JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise _InvalidRequestError("request body must be a JSON object")
    return payload


def _check_fields(payload: Mapping[str, Any], allowed: tuple[str, ...]) -> None:
    # Strict on purpose: an unexpected field means the mediator and the vendor contract drifted.
    unknown = sorted(key for key in payload if key not in allowed)
    if unknown:
        raise _InvalidRequestError(f"unknown field(s): {', '.join(repr(k) for k in unknown)}")


def _required_str(payload: Mapping[str, Any], name: str) -> str:
    value = payload.get(name)
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_REFERENCE_LENGTH:
        raise _InvalidRequestError(
            f"field '{name}' is required and must be a non-empty string of at most "
            f"{MAX_REFERENCE_LENGTH} characters"
        )
    return value


def _new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


class _TokenBucket:
    """Classic token bucket: ``rate`` tokens per second, burst of ``max(1, rate)``."""

    def __init__(self, rate: float, now: float) -> None:
        self._rate = rate
        self._capacity = max(1.0, rate)
        self._tokens = self._capacity
        self._updated = now

    def take(self, now: float) -> bool:
        elapsed = max(0.0, now - self._updated)
        self._tokens = min(self._capacity, self._tokens + elapsed * self._rate)
        self._updated = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False


# --------------------------------------------------------------------------------------------
# The vendor
# --------------------------------------------------------------------------------------------


class FakeVendor:
    """In-process fake of the loyalty SaaS. Start it, seed it, point the mediator at base_url."""

    def __init__(
        self,
        *,
        api_key: str = DEFAULT_API_KEY,
        host: str = "127.0.0.1",
        port: int = 0,
        faults: FaultProfile | None = None,
    ) -> None:
        if not api_key:
            raise ValueError("api_key must be a non-empty string")
        # The API key is a well-known constant, so the fake must never be reachable from another
        # machine: only loopback addresses are accepted.
        if host != "localhost":
            try:
                address = ipaddress.ip_address(host)
            except ValueError:
                raise ValueError(f"host must be an IPv4 loopback address, got {host!r}") from None
            if address.version != 4 or not address.is_loopback:
                raise ValueError(f"host must be an IPv4 loopback address, got {host!r}")
        self._api_key = api_key
        self._host = host
        self._port = port
        # One lock guards every piece of mutable state below; it is never held while sleeping or
        # doing socket I/O, so a slow or hung response cannot stall other requests.
        self._lock = threading.Lock()
        self._rng = random.Random()
        self._faults = FaultProfile()
        self._bucket: _TokenBucket | None = None
        # time.monotonic() at which the fault clock started: outage offsets count from here.
        self._fault_clock_start = time.monotonic()
        self._accounts: dict[str, int] = {}
        # code -> redemption id once redeemed (None while still available).
        self._vouchers: dict[str, str | None] = {}
        self._rewards: dict[str, str | None] = {}
        self._ledger: list[LedgerEntry] = []
        # Every redemption that took effect, in order; a reversed one is replaced by its copy with
        # reversal_id set, never removed.
        self._redemptions: list[Redemption] = []
        self._reversals: list[Reversal] = []
        self._idempotency: dict[str, _StoredAnswer] = {}
        self._requests_total = 0
        self._by_status: dict[int, int] = {}
        self._by_endpoint: dict[str, int] = {}
        self._replays = 0
        self._faults_injected: dict[str, int] = {}
        self._apply_faults_locked(faults or FaultProfile())
        # Set by stop(): wakes handlers sleeping for latency/timeouts so shutdown is prompt.
        self._stopping = threading.Event()
        self._server: _VendorHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ---- lifecycle -------------------------------------------------------------------------

    def start(self) -> FakeVendor:
        if self._server is not None:
            raise RuntimeError("FakeVendor is already running")
        self._stopping.clear()
        server = _VendorHTTPServer((self._host, self._port), self)
        # A short poll interval keeps stop() fast: shutdown() waits for the serve loop to notice.
        thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"fake-vendor-{server.server_address[1]}",
            daemon=True,
        )
        thread.start()
        self._server, self._thread = server, thread
        logger.info("fake loyalty vendor listening on %s", self.base_url)
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        # Keep-alive connections would otherwise keep their handler threads (and this vendor's
        # state) answering after stop; sleeping handlers were woken by _stopping above.
        server.close_connections(timeout=5.0)
        server.server_close()
        if thread is not None:
            thread.join(timeout=5.0)
        self._server, self._thread = None, None
        logger.info("fake loyalty vendor stopped")

    def __enter__(self) -> FakeVendor:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("FakeVendor is not running; call start() first")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def api_key(self) -> str:
        return self._api_key

    # ---- faults ----------------------------------------------------------------------------

    @property
    def faults(self) -> FaultProfile:
        with self._lock:
            return self._faults

    @faults.setter
    def faults(self, profile: FaultProfile) -> None:
        if not isinstance(profile, FaultProfile):
            raise TypeError(f"faults must be a FaultProfile, got {type(profile).__name__}")
        with self._lock:
            self._apply_faults_locked(profile)

    def _apply_faults_locked(self, profile: FaultProfile) -> None:
        self._faults = profile
        if profile.seed is not None:
            self._rng = random.Random(profile.seed)
        now = time.monotonic()
        # A new profile starts with a full bucket, as a freshly provisioned API plan would.
        rps = profile.rate_limit_rps
        self._bucket = _TokenBucket(rps, now) if rps is not None else None
        self._fault_clock_start = now
        logger.info("fake vendor fault profile set: %s", profile)

    def start_fault_clock(self) -> None:
        """Restart the fault clock, so outage offsets count from now.

        Applying a profile already starts it; call this when the traffic under test really
        begins (a run submitting its first order), so whatever happens in between (deploying,
        seeding) does not eat into an outage. Only outages use the clock: the token bucket and
        the RNG are left as they are.
        """
        with self._lock:
            self._fault_clock_start = time.monotonic()
        logger.info("fake vendor fault clock restarted")

    # ---- seeding and inspection ------------------------------------------------------------

    def add_account(self, account: str, balance: int = 0) -> None:
        if not account:
            raise ValueError("account must be a non-empty string")
        if not isinstance(balance, int) or isinstance(balance, bool) or balance < 0:
            raise ValueError(f"balance must be an integer >= 0, got {balance!r}")
        with self._lock:
            if account in self._accounts:
                raise ValueError(f"account {account!r} already exists")
            self._accounts[account] = balance

    def add_voucher(self, code: str) -> None:
        self._add_code(self._vouchers, "voucher", code)

    def add_reward(self, code: str) -> None:
        self._add_code(self._rewards, "reward", code)

    def _add_code(self, catalog: dict[str, str | None], kind: str, code: str) -> None:
        if not code:
            raise ValueError(f"{kind} code must be a non-empty string")
        with self._lock:
            if code in catalog:
                raise ValueError(f"{kind} {code!r} already exists")
            catalog[code] = None

    def balance(self, account: str) -> int:
        with self._lock:
            return self._accounts[account]

    def ledger(self) -> list[LedgerEntry]:
        with self._lock:
            return list(self._ledger)

    def redemptions(self) -> list[Redemption]:
        """Every redemption that took effect, reversed ones included (``reversal_id`` set)."""
        with self._lock:
            return list(self._redemptions)

    def active_redemptions(self) -> list[Redemption]:
        """The redemptions that took effect and have not been reversed."""
        with self._lock:
            return [r for r in self._redemptions if r.reversal_id is None]

    def reversals(self) -> list[Reversal]:
        with self._lock:
            return list(self._reversals)

    def stats(self) -> VendorStats:
        with self._lock:
            return self._stats_locked()

    def _stats_locked(self) -> VendorStats:
        return VendorStats(
            requests_total=self._requests_total,
            by_status=dict(self._by_status),
            by_endpoint=dict(self._by_endpoint),
            idempotent_replays=self._replays,
            faults_injected=dict(self._faults_injected),
        )

    def reset(self) -> None:
        with self._lock:
            self._accounts.clear()
            self._vouchers.clear()
            self._rewards.clear()
            self._ledger.clear()
            self._redemptions.clear()
            self._reversals.clear()
            self._idempotency.clear()
            self._requests_total = 0
            self._by_status.clear()
            self._by_endpoint.clear()
            self._replays = 0
            self._faults_injected.clear()
            self._rng = random.Random()
            self._apply_faults_locked(FaultProfile())

    # ---- request handling (called from handler threads) -----------------------------------

    def _handle(self, request: _Request) -> _Reply:
        route, params, method_allowed = self._match(request.method, request.path)
        with self._lock:
            try:
                reply = self._dispatch_locked(request, route, params, method_allowed)
            except Exception:
                logger.exception("fake vendor failed on %s %s", request.method, request.path)
                reply = _error(500, "internal_error", "the fake vendor hit an unexpected error")
            if route is None or route.area != "admin":
                # Admin calls are the test harness talking, not traffic the mediator produced.
                label = route.label if route is not None and method_allowed else "unmatched"
                self._requests_total += 1
                self._by_status[reply.status] = self._by_status.get(reply.status, 0) + 1
                self._by_endpoint[label] = self._by_endpoint.get(label, 0) + 1
        logger.debug("%s %s -> %s", request.method, request.path, reply.status)
        return reply

    @staticmethod
    def _match(method: str, path: str) -> tuple[_Route | None, dict[str, str], bool]:
        candidates = []
        for route in _ROUTES:
            found = route.pattern.fullmatch(path)
            if found is not None:
                params = {name: unquote(value) for name, value in found.groupdict().items()}
                if route.method == method:
                    return route, params, True
                candidates.append((route, params))
        if candidates:
            route, params = candidates[0]
            return route, params, False
        return None, {}, False

    def _dispatch_locked(
        self,
        request: _Request,
        route: _Route | None,
        params: dict[str, str],
        method_allowed: bool,
    ) -> _Reply:
        if request.framing_error is not None:
            return request.framing_error
        is_health = route is not None and route.area == "health"
        if not is_health and not self._authorised(request.api_key):
            return _error(401, "unauthorized", "missing or invalid x-api-key header")
        if route is None:
            return _error(404, "not_found", f"no such endpoint: {request.path}")
        if not method_allowed:
            return _error(
                405,
                "method_not_allowed",
                f"{request.method} is not allowed on {route.template}; use {route.method}",
                headers=(("Allow", route.method),),
            )
        if route.area == "health":
            return _json_reply(200, {"status": "ok"})
        if route.area == "admin":
            return self._admin_locked(route, request)
        return self._v1_locked(route, params, request)

    def _authorised(self, presented: str | None) -> bool:
        # Constant-time comparison: cheap, and the habit is worth keeping even in a fake.
        return presented is not None and hmac.compare_digest(
            presented.encode(), self._api_key.encode()
        )

    def _admin_locked(self, route: _Route, request: _Request) -> _Reply:
        if route.name == "admin_stats":
            return _json_reply(200, self._stats_locked().to_dict())
        try:
            profile = FaultProfile.from_dict(_parse_json_object(request.body))
        except (_InvalidRequestError, ValueError, TypeError) as exc:
            return _error(400, "invalid_request", str(exc))
        self._apply_faults_locked(profile)
        return _Reply(status=204, content_type=None)

    # ---- /v1 ---------------------------------------------------------------------------------

    def _roll(self, probability: float) -> bool:
        # No draw for 0 or 1, so a seeded sequence only depends on the knobs that are really random.
        if probability <= 0.0:
            return False
        if probability >= 1.0:
            return True
        return self._rng.random() < probability

    def _count_fault(self, kind: str) -> None:
        self._faults_injected[kind] = self._faults_injected.get(kind, 0) + 1

    def _v1_locked(self, route: _Route, params: dict[str, str], request: _Request) -> _Reply:
        faults = self._faults
        latency_ms = faults.latency_ms
        if faults.latency_jitter_ms > 0:
            latency_ms += self._rng.uniform(0.0, faults.latency_jitter_ms)
        # Latency applies to every /v1 answer, fault answers included: a 503 also crosses a network.
        delay = latency_ms / 1000.0

        injected = self._pre_effect_fault_locked(faults)
        if injected is not None:
            return replace(injected, delay_seconds=delay)

        reply, fresh = self._process_locked(route, params, request)

        # Everything below happens after the effect: none of it may answer 429 or 503 (see the
        # module docstring's contract).
        if faults.timeout_sleep_seconds > 0 and self._roll(faults.timeout_rate):
            # The effect (if any) is already applied and stored: like a real vendor that commits
            # and then hangs. A client retry with the same key gets the stored answer replayed.
            # A 0 s hang is no hang, so it is neither drawn nor counted.
            self._count_fault("timeout")
            delay += faults.timeout_sleep_seconds
        if fresh and self._roll(faults.lost_response_rate):
            # Only answers that were just produced (and stored) are "lost": the knob exists to
            # prove that a retry with the same Idempotency-Key recovers the real answer, which a
            # lost replay would make impossible at rate 1.
            self._count_fault("lost_response")
            reply = _error(502, "bad_gateway", "upstream connection reset before the response")
        elif fresh and 200 <= reply.status < 300 and self._roll(faults.malformed_success_rate):
            # Fresh successes only, for the same reason as lost responses: the stored answer stays
            # the real one, so a replay (or a key lookup) must be able to recover it; a malformed
            # replay would make that impossible at rate 1. An error answer has no id to drop.
            self._count_fault("malformed_success")
            reply = replace(reply, body=_MALFORMED_SUCCESS_BODY)
        return replace(reply, delay_seconds=delay)

    def _pre_effect_fault_locked(self, faults: FaultProfile) -> _Reply | None:
        now = time.monotonic()
        elapsed = now - self._fault_clock_start
        for start, end in faults.outages:
            if start <= elapsed < end:
                self._count_fault("outage")
                return _error(
                    503,
                    "vendor_unavailable",
                    "the loyalty service is down for maintenance",
                    headers=(("Retry-After", _format_seconds(end - elapsed)),),
                )
        retry_after = (("Retry-After", _format_seconds(faults.retry_after_seconds)),)
        if self._bucket is not None and not self._bucket.take(now):
            self._count_fault("rate_limit")
            return _error(
                429,
                "rate_limited",
                f"rate limit of {faults.rate_limit_rps} requests per second exceeded",
                headers=retry_after,
            )
        if self._roll(faults.throttle_rate):
            self._count_fault("throttle")
            return _error(429, "rate_limited", "too many requests, slow down", headers=retry_after)
        if self._roll(faults.error_rate):
            self._count_fault("error")
            return _error(503, "unavailable", "the loyalty service is temporarily unavailable")
        if self._roll(faults.garbage_rate):
            self._count_fault("garbage")
            return _Reply(status=200, body=_GARBAGE_BODY)
        return None

    def _process_locked(
        self, route: _Route, params: dict[str, str], request: _Request
    ) -> tuple[_Reply, bool]:
        """The vendor's real work. Returns the answer and whether it was freshly stored."""
        if route.name == "get_account":
            return self._get_account_locked(params["account"]), False
        if route.name == "get_idempotency_key":
            return self._lookup_key_locked(params["key"]), False

        key = request.idempotency_key
        if key is None or not 1 <= len(key) <= MAX_IDEMPOTENCY_KEY_LENGTH:
            return _error(
                400,
                "idempotency_key_required",
                f"POST requests need an Idempotency-Key header of 1 to "
                f"{MAX_IDEMPOTENCY_KEY_LENGTH} characters",
            ), False
        key_header = (("Idempotency-Key", key),)
        fingerprint = self._fingerprint(request)
        stored = self._idempotency.get(key)
        if stored is not None:
            if stored.fingerprint != fingerprint:
                return _error(
                    422,
                    "idempotency_key_reused",
                    "this Idempotency-Key was already used with a different request",
                    headers=key_header,
                ), False
            self._replays += 1
            return _Reply(
                status=stored.status,
                body=stored.body,
                headers=(*key_header, ("Idempotent-Replayed", "true")),
            ), False

        try:
            payload = _parse_json_object(request.body)
            if route.name == "post_points":
                reply = self._points_locked(params["account"], payload, key)
            elif route.name == "redeem_voucher":
                reply = self._redeem_locked("voucher", params["code"], payload, key)
            elif route.name == "redeem_reward":
                reply = self._redeem_locked("reward", params["code"], payload, key)
            elif route.name == "reverse_voucher":
                reply = self._reverse_locked("voucher", params["code"], payload, key)
            elif route.name == "reverse_reward":
                reply = self._reverse_locked("reward", params["code"], payload, key)
            else:
                raise RuntimeError(f"no handler for route {route.name!r}")
        except _InvalidRequestError as exc:
            # Like Stripe, requests rejected by validation are not stored: the key stays usable
            # for a corrected request.
            return _error(400, "invalid_request", str(exc), headers=key_header), False
        self._idempotency[key] = _StoredAnswer(fingerprint, reply.status, reply.body)
        return replace(reply, headers=(*reply.headers, *key_header)), True

    @staticmethod
    def _fingerprint(request: _Request) -> str:
        # Canonical JSON when the body parses, so key order and whitespace do not count as a
        # different request; raw bytes otherwise.
        try:
            canonical = json.dumps(
                json.loads(request.body), sort_keys=True, separators=(",", ":")
            ).encode()
        except ValueError:
            canonical = request.body
        digest = hashlib.sha256(f"{request.method}\n{request.path}\n".encode())
        digest.update(canonical)
        return digest.hexdigest()

    def _lookup_key_locked(self, key: str) -> _Reply:
        # Read-only: not a replay (not counted as one, no Idempotent-Replayed header) and it
        # ignores the request fingerprint, since the caller wants whatever the key produced.
        stored = self._idempotency.get(key)
        if stored is None:
            return _error(
                404,
                "idempotency_key_not_found",
                f"no request with Idempotency-Key {key!r} has been processed",
            )
        return _json_reply(
            200,
            {"idempotency_key": key, "status": stored.status, "response": json.loads(stored.body)},
        )

    def _get_account_locked(self, account: str) -> _Reply:
        if account not in self._accounts:
            return _error(404, "account_not_found", f"account {account!r} does not exist")
        return _json_reply(200, {"account": account, "balance": self._accounts[account]})

    def _points_locked(self, account: str, payload: Mapping[str, Any], key: str) -> _Reply:
        _check_fields(payload, ("operation", "points", "order_reference", "merchant_reference"))
        operation = payload.get("operation")
        if operation not in ("credit", "deduct"):
            raise _InvalidRequestError(
                "field 'operation' is required and must be 'credit' or 'deduct'"
            )
        points = payload.get("points")
        if not isinstance(points, int) or isinstance(points, bool) or not 1 <= points <= MAX_POINTS:
            raise _InvalidRequestError(
                f"field 'points' is required and must be an integer from 1 to {MAX_POINTS}"
            )
        order_reference = _required_str(payload, "order_reference")
        merchant_reference = _required_str(payload, "merchant_reference")

        if account not in self._accounts:
            return _error(404, "account_not_found", f"account {account!r} does not exist")
        balance = self._accounts[account]
        if operation == "deduct" and points > balance:
            return _error(
                422,
                "insufficient_points",
                f"account {account!r} has {balance} points; cannot deduct {points}",
            )
        balance = balance + points if operation == "credit" else balance - points
        self._accounts[account] = balance
        entry = LedgerEntry(
            transaction_id=_new_id("txn"),
            account=account,
            operation=cast(Operation, operation),
            points=points,
            order_reference=order_reference,
            merchant_reference=merchant_reference,
            idempotency_key=key,
            at=time.time(),
        )
        self._ledger.append(entry)
        return _json_reply(
            201,
            {
                "transaction_id": entry.transaction_id,
                "account": account,
                "operation": operation,
                "points": points,
                "balance": balance,
            },
        )

    def _code_request_locked(
        self, kind: RedemptionKind, code: str, payload: Mapping[str, Any]
    ) -> tuple[dict[str, str | None], str, str] | _Reply:
        """A redemption's or reversal's body checked, and the code and account looked up: the
        kind's catalogue, the account and the order reference, or the 404 to answer."""
        _check_fields(payload, ("account", "order_reference"))
        account = _required_str(payload, "account")
        order_reference = _required_str(payload, "order_reference")
        catalog = self._vouchers if kind == "voucher" else self._rewards
        if code not in catalog:
            return _error(404, f"{kind}_not_found", f"{kind} {code!r} does not exist")
        if account not in self._accounts:
            return _error(404, "account_not_found", f"account {account!r} does not exist")
        return catalog, account, order_reference

    def _redeem_locked(
        self, kind: RedemptionKind, code: str, payload: Mapping[str, Any], key: str
    ) -> _Reply:
        found = self._code_request_locked(kind, code, payload)
        if isinstance(found, _Reply):
            return found
        catalog, account, order_reference = found
        if catalog[code] is not None:
            return _error(409, f"{kind}_already_redeemed", f"{kind} {code!r} was already redeemed")
        redemption = Redemption(
            redemption_id=_new_id("red"),
            kind=kind,
            code=code,
            account=account,
            order_reference=order_reference,
            idempotency_key=key,
            at=time.time(),
        )
        catalog[code] = redemption.redemption_id
        self._redemptions.append(redemption)
        return _json_reply(
            201,
            {
                "redemption_id": redemption.redemption_id,
                f"{kind}_code": code,
                "account": account,
            },
        )

    def _reverse_locked(
        self, kind: RedemptionKind, code: str, payload: Mapping[str, Any], key: str
    ) -> _Reply:
        found_code = self._code_request_locked(kind, code, payload)
        if isinstance(found_code, _Reply):
            return found_code
        catalog, account, order_reference = found_code
        # Where the code's current redemption is in the history (None: the code is not redeemed).
        current = catalog[code]
        found = next(
            ((i, r) for i, r in enumerate(self._redemptions) if r.redemption_id == current), None
        )
        if found is None or (found[1].account, found[1].order_reference) != (
            account,
            order_reference,
        ):
            # One answer for "not redeemed" and "redeemed by someone else": the caller learns
            # nothing about other members' orders.
            return _error(
                409,
                f"{kind}_not_redeemed",
                f"{kind} {code!r} is not redeemed by account {account!r} "
                f"for order {order_reference!r}",
            )
        index, redemption = found
        reversal = Reversal(
            reversal_id=_new_id("rev"),
            kind=kind,
            code=code,
            account=account,
            order_reference=order_reference,
            redemption_id=redemption.redemption_id,
            idempotency_key=key,
            at=time.time(),
        )
        self._redemptions[index] = replace(redemption, reversal_id=reversal.reversal_id)
        catalog[code] = None
        self._reversals.append(reversal)
        return _json_reply(
            201,
            {
                "reversal_id": reversal.reversal_id,
                "redemption_id": redemption.redemption_id,
                f"{kind}_code": code,
                "account": account,
            },
        )


# --------------------------------------------------------------------------------------------
# HTTP plumbing
# --------------------------------------------------------------------------------------------


class _VendorHTTPServer(ThreadingHTTPServer):
    # Handler threads are daemons so a forgotten stop() never blocks interpreter exit, and they are
    # tracked here so stop() can still join them: once it returns, nothing touches the vendor.
    daemon_threads = True
    # http.server listens with a backlog of 5: a burst of callers overflowed it and their
    # connections came a second later (TCP's SYN retry), which a client with a sub-second connect
    # timeout takes for an outage. A SaaS endpoint's backlog is the system's maximum.
    request_queue_size = socket.SOMAXCONN

    def __init__(self, address: tuple[str, int], vendor: FakeVendor) -> None:
        self.vendor = vendor
        # Socket and thread bookkeeping for shutdown only; the vendor's state has its own lock.
        self._bookkeeping_lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        self._handler_threads: set[threading.Thread] = set()
        self._closing = False
        super().__init__(address, _VendorRequestHandler)

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(
            target=self.process_request_thread,
            args=(request, client_address),
            name=f"fake-vendor-handler-{client_address[1]}",
            daemon=True,
        )
        with self._bookkeeping_lock:
            self._handler_threads.add(thread)
        thread.start()

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self._bookkeeping_lock:
                self._handler_threads.discard(threading.current_thread())

    def track(self, connection: socket.socket) -> bool:
        """Register a live connection; False if the server is already closing it down."""
        with self._bookkeeping_lock:
            if self._closing:
                return False
            self._connections.add(connection)
            return True

    def untrack(self, connection: socket.socket) -> None:
        with self._bookkeeping_lock:
            self._connections.discard(connection)

    def close_connections(self, timeout: float) -> None:
        """Cut every live connection, then wait (bounded) for the handler threads to finish."""
        with self._bookkeeping_lock:
            self._closing = True
            connections = list(self._connections)
        for connection in connections:
            # OSError: the peer already closed it.
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        deadline = time.monotonic() + timeout
        with self._bookkeeping_lock:
            threads = list(self._handler_threads)
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        stuck = [thread.name for thread in threads if thread.is_alive()]
        if stuck:
            logger.warning("fake vendor handler threads still running after stop: %s", stuck)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # socketserver prints tracebacks to stderr by default; route them through logging instead.
        logger.debug("fake vendor connection error from %s", client_address, exc_info=True)


class _VendorRequestHandler(BaseHTTPRequestHandler):
    # HTTP/1.1 keep-alive, like the real SaaS behind a load balancer: the mediator's pooled
    # connections get exercised the same way as in AWS.
    protocol_version = "HTTP/1.1"
    server_version = "fake-loyalty-vendor/1.0"
    # Socket timeout for reads: an idle keep-alive connection or a client that never finishes its
    # body cannot pin a handler thread forever.
    timeout = 10.0
    # Buffer the status line, headers and body and flush them as one write, and disable Nagle:
    # separate small writes meet the client's delayed ACK and add ~40 ms to every answer.
    wbufsize = -1
    disable_nagle_algorithm = True

    @property
    def _vendor_server(self) -> _VendorHTTPServer:
        return cast(_VendorHTTPServer, self.server)

    def setup(self) -> None:
        super().setup()
        self._tracked = self._vendor_server.track(self.connection)
        if not self._tracked:
            self.close_connection = True

    def handle(self) -> None:
        if self._tracked:
            super().handle()

    def finish(self) -> None:
        self._vendor_server.untrack(self.connection)
        # OSError: the peer went away, so there is nothing left to flush.
        with contextlib.suppress(OSError):
            super().finish()

    def version_string(self) -> str:
        # The default appends the Python version, which the real vendor would not disclose.
        return self.server_version

    def log_message(self, format: str, *args: Any) -> None:
        # BaseHTTPRequestHandler writes every request to stderr; keep it at DEBUG in our logger.
        logger.debug("%s - %s", self.address_string(), format % args)

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_PATCH(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def _serve(self) -> None:
        body, framing_error = self._read_body()
        request = _Request(
            method=self.command,
            path=urlsplit(self.path).path,
            api_key=self.headers.get("x-api-key"),
            idempotency_key=self.headers.get("Idempotency-Key"),
            body=body,
            framing_error=framing_error,
        )
        vendor = self._vendor_server.vendor
        reply = vendor._handle(request)
        if reply.delay_seconds > 0 and vendor._stopping.wait(reply.delay_seconds):
            # Stopped while sleeping: the connection is being torn down, do not answer.
            self.close_connection = True
            return
        self._write(reply)

    def _read_body(self) -> tuple[bytes, _Reply | None]:
        if self.headers.get("Transfer-Encoding"):
            # http.server does not decode chunked bodies; reading on would desync the connection.
            self.close_connection = True
            return b"", _error(411, "length_required", "send the body with a Content-Length")
        raw_length = self.headers.get("Content-Length")
        if raw_length is None:
            return b"", None
        try:
            length = int(raw_length)
        except ValueError:
            length = -1
        if length < 0:
            self.close_connection = True
            return b"", _error(400, "invalid_request", "Content-Length must be an integer >= 0")
        if length > MAX_BODY_BYTES:
            self.close_connection = True
            return b"", _error(
                413, "request_too_large", f"request body exceeds {MAX_BODY_BYTES} bytes"
            )
        return self.rfile.read(length), None

    def _write(self, reply: _Reply) -> None:
        try:
            self.send_response(reply.status, HTTPStatus(reply.status).phrase)
            self.send_header("X-Request-Id", _new_id("req"))
            for name, value in reply.headers:
                self.send_header(name, value)
            if reply.status != 204:
                if reply.content_type is not None:
                    self.send_header("Content-Type", reply.content_type)
                self.send_header("Content-Length", str(len(reply.body)))
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            if reply.body and reply.status != 204:
                self.wfile.write(reply.body)
            self.wfile.flush()
        except OSError:
            # Typically a client that gave up (read timeout) before a hung response was sent.
            logger.debug("client went away before the answer was written", exc_info=True)
            self.close_connection = True

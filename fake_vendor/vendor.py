"""``FakeVendor``: the stand-in loyalty SaaS, an HTTP server on 127.0.0.1 that speaks the vendor's
API (``fake_vendor/README.md``) over its books, its idempotency keys and its fault profile."""

from __future__ import annotations

import hmac
import ipaddress
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from functools import partial
from types import TracebackType
from typing import Any

from fake_vendor.faults import FaultInjector, FaultProfile
from fake_vendor.idempotency import IdempotencyStore
from fake_vendor.jobs import OPERATION_OF_ROUTE, JobBoard
from fake_vendor.ledger import (
    Books,
    LedgerEntry,
    Redemption,
    RedemptionKind,
    Reversal,
    code_fields,
    points_fields,
)
from fake_vendor.routes import Route, match
from fake_vendor.server import VendorHTTPServer
from fake_vendor.wire import (
    MAX_IDEMPOTENCY_KEY_LENGTH,
    InvalidRequestError,
    Reply,
    Request,
    error,
    json_reply,
    parse_json_object,
)

logger = logging.getLogger(__name__)

DEFAULT_API_KEY = "local-vendor-key"

_REDEMPTIONS: dict[str, RedemptionKind] = {"redeem_voucher": "voucher", "redeem_reward": "reward"}
_REVERSALS: dict[str, RedemptionKind] = {"reverse_voucher": "voucher", "reverse_reward": "reward"}


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
        self._faults = FaultInjector()
        self._books = Books()
        self._keys = IdempotencyStore()
        self._jobs = JobBoard()
        self._requests_total = 0
        self._by_status: dict[int, int] = {}
        self._by_endpoint: dict[str, int] = {}
        self._faults.apply(faults or FaultProfile())
        # Set by stop(): wakes handlers sleeping for latency/timeouts so shutdown is prompt.
        self._stopping = threading.Event()
        self._server: VendorHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ---- lifecycle -------------------------------------------------------------------------

    def start(self) -> FakeVendor:
        if self._server is not None:
            raise RuntimeError("FakeVendor is already running")
        self._stopping.clear()
        server = VendorHTTPServer((self._host, self._port), self._handle, self._stopping)
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
        # Connections in flight (a body still arriving, an answer held back) would otherwise keep
        # their handler threads (and this vendor's state) answering after stop; sleeping handlers
        # were woken by _stopping above.
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
            return self._faults.profile

    @faults.setter
    def faults(self, profile: FaultProfile) -> None:
        if not isinstance(profile, FaultProfile):
            raise TypeError(f"faults must be a FaultProfile, got {type(profile).__name__}")
        with self._lock:
            self._faults.apply(profile)

    def start_fault_clock(self, *, on_next_request: bool = False) -> None:
        """Restart the fault clock, so outage offsets count from now, or with
        ``on_next_request`` from the next ``/v1`` request the vendor receives.

        Applying a profile already starts it; call this when the traffic under test really
        begins, so whatever happens in between (deploying, seeding, an order's way to its first
        vendor step) does not eat into an outage. Only outages use the clock: the token bucket
        and the RNG are left as they are.
        """
        with self._lock:
            self._faults.restart_clock(on_next_request=on_next_request)
        logger.info("fake vendor fault clock restarted")

    # ---- seeding and inspection ------------------------------------------------------------

    def add_account(self, account: str, balance: int = 0) -> None:
        if not account:
            raise ValueError("account must be a non-empty string")
        if not isinstance(balance, int) or isinstance(balance, bool) or balance < 0:
            raise ValueError(f"balance must be an integer >= 0, got {balance!r}")
        with self._lock:
            self._books.add_account(account, balance)

    def add_voucher(self, code: str) -> None:
        self._add_code("voucher", code)

    def add_reward(self, code: str) -> None:
        self._add_code("reward", code)

    def _add_code(self, kind: RedemptionKind, code: str) -> None:
        if not code:
            raise ValueError(f"{kind} code must be a non-empty string")
        with self._lock:
            self._books.add_code(kind, code)

    @contextmanager
    def _books_now(self) -> Iterator[Books]:
        """The books as they stand now, under the lock: the jobs that are due have finished."""
        with self._lock:
            self._jobs.settle_due()
            yield self._books

    def balance(self, account: str) -> int:
        with self._books_now() as books:
            return books.accounts[account]

    def ledger(self) -> list[LedgerEntry]:
        with self._books_now() as books:
            return list(books.ledger)

    def redemptions(self) -> list[Redemption]:
        """Every redemption that took effect, reversed ones included (``reversal_id`` set)."""
        with self._books_now() as books:
            return list(books.redemptions)

    def active_redemptions(self) -> list[Redemption]:
        """The redemptions that took effect and have not been reversed."""
        with self._books_now() as books:
            return [r for r in books.redemptions if r.reversal_id is None]

    def reversals(self) -> list[Reversal]:
        with self._books_now() as books:
            return list(books.reversals)

    def stats(self) -> VendorStats:
        with self._lock:
            return self._stats_locked()

    def _stats_locked(self) -> VendorStats:
        return VendorStats(
            requests_total=self._requests_total,
            by_status=dict(self._by_status),
            by_endpoint=dict(self._by_endpoint),
            idempotent_replays=self._keys.replays,
            faults_injected=dict(self._faults.injected),
        )

    def reset(self) -> None:
        with self._lock:
            self._books.clear()
            self._keys.clear()
            self._jobs.clear()
            self._requests_total = 0
            self._by_status.clear()
            self._by_endpoint.clear()
            self._faults.reset()

    # ---- request handling (called from handler threads) -----------------------------------

    def _handle(self, request: Request) -> Reply:
        found = match(request.method, request.path)
        route = found.route
        with self._lock:
            # Jobs finish on the vendor's clock, before anything else is answered.
            self._jobs.settle_due()
            try:
                reply = self._dispatch_locked(request, route, found.params, found.method_allowed)
            except Exception:
                logger.exception("fake vendor failed on %s %s", request.method, request.path)
                reply = error(500, "internal_error", "the fake vendor hit an unexpected error")
            if route is None or route.area != "admin":
                # Admin calls are the test harness talking, not traffic the mediator produced.
                label = route.label if route is not None and found.method_allowed else "unmatched"
                self._requests_total += 1
                self._by_status[reply.status] = self._by_status.get(reply.status, 0) + 1
                self._by_endpoint[label] = self._by_endpoint.get(label, 0) + 1
        logger.debug("%s %s -> %s", request.method, request.path, reply.status)
        return reply

    def _dispatch_locked(
        self,
        request: Request,
        route: Route | None,
        params: dict[str, str],
        method_allowed: bool,
    ) -> Reply:
        if request.framing_error is not None:
            return request.framing_error
        is_health = route is not None and route.area == "health"
        if not is_health and not self._authorised(request.api_key):
            return error(401, "unauthorized", "missing or invalid x-api-key header")
        if route is None:
            return error(404, "not_found", f"no such endpoint: {request.path}")
        if not method_allowed:
            return error(
                405,
                "method_not_allowed",
                f"{request.method} is not allowed on {route.template}; use {route.method}",
                headers=(("Allow", route.method),),
            )
        if route.area == "health":
            return json_reply(200, {"status": "ok"})
        if route.area == "admin":
            return self._admin_locked(route, params, request)
        return self._v1_locked(route, params, request)

    def _authorised(self, presented: str | None) -> bool:
        # Constant-time comparison: cheap, and the habit is worth keeping even in a fake.
        return presented is not None and hmac.compare_digest(
            presented.encode(), self._api_key.encode()
        )

    def _admin_locked(self, route: Route, params: dict[str, str], request: Request) -> Reply:
        if route.name == "admin_stats":
            return json_reply(200, self._stats_locked().to_dict())
        if route.name in ("admin_add_voucher", "admin_add_reward"):
            # A code the vendor now knows: what is "put right" before a failed order is re-run.
            # PUT: adding a known code again changes nothing.
            kind: RedemptionKind = "voucher" if route.name == "admin_add_voucher" else "reward"
            if params["code"] not in self._books.codes[kind]:
                self._books.add_code(kind, params["code"])
            return Reply(status=204, content_type=None)
        try:
            profile = FaultProfile.from_dict(parse_json_object(request.body))
        except (InvalidRequestError, ValueError, TypeError) as exc:
            return error(400, "invalid_request", str(exc))
        self._faults.apply(profile)
        return Reply(status=204, content_type=None)

    def _v1_locked(self, route: Route, params: dict[str, str], request: Request) -> Reply:
        latency = self._faults.latency_seconds()
        refused = self._faults.before_effect()
        if refused is not None:
            return replace(refused, delay_seconds=latency)
        reply, fresh = self._process_locked(route, params, request)
        answered = self._faults.after_effect(reply, fresh=fresh)
        return replace(answered, delay_seconds=latency + answered.delay_seconds)

    def _process_locked(
        self, route: Route, params: dict[str, str], request: Request
    ) -> tuple[Reply, bool]:
        """The vendor's real work. Returns the answer and whether it was freshly stored."""
        if route.name == "get_account":
            return self._books.account(params["account"]), False
        if route.name == "get_idempotency_key":
            return self._keys.lookup(params["key"]), False
        if route.name == "get_job":
            return self._jobs.status(params["job_id"]), False

        key = request.idempotency_key
        if key is None or not 1 <= len(key) <= MAX_IDEMPOTENCY_KEY_LENGTH:
            return error(
                400,
                "idempotency_key_required",
                f"POST requests need an Idempotency-Key header of 1 to "
                f"{MAX_IDEMPOTENCY_KEY_LENGTH} characters",
            ), False
        replayed = self._keys.replay(key, request)
        if replayed is not None:
            return replayed, False
        key_header = (("Idempotency-Key", key),)
        try:
            payload = parse_json_object(request.body)
            if route.name == "post_points":
                points_fields(payload)
                effect = partial(self._books.points, params["account"], payload, key)
            elif route.name in _REDEMPTIONS:
                code_fields(payload)
                kind = _REDEMPTIONS[route.name]
                effect = partial(self._books.redeem, kind, params["code"], payload, key)
            elif route.name in _REVERSALS:
                code_fields(payload)
                kind = _REVERSALS[route.name]
                effect = partial(self._books.reverse, kind, params["code"], payload, key)
            else:
                raise RuntimeError(f"no handler for route {route.name!r}")
        except InvalidRequestError as exc:
            # Like Stripe, requests rejected by validation are not stored: the key stays usable
            # for a corrected request.
            return error(400, "invalid_request", str(exc), headers=key_header), False
        operation = OPERATION_OF_ROUTE[route.name]
        profile = self._faults.profile
        if operation in profile.async_operations:
            # Checked now, done later: the books decide when the job runs.
            reply = self._jobs.submit(
                operation, effect, seconds=profile.job_seconds, fate=self._faults.job_fate()
            )
        else:
            reply = effect()
        self._keys.store(key, request, reply)
        return replace(reply, headers=(*reply.headers, *key_header)), True

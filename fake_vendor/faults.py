"""How the fake vendor misbehaves: the fault profile (validated knobs, presets, JSON files) and
the token bucket behind its rate limit. Plain logic: the vendor decides with them under its lock."""

from __future__ import annotations

import json
import logging
import math
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from fake_vendor.jobs import ASYNC_OPERATIONS, Fate
from fake_vendor.wire import Reply, error, format_seconds

logger = logging.getLogger(__name__)

_RATE_FIELDS = (
    "error_rate",
    "lost_response_rate",
    "throttle_rate",
    "timeout_rate",
    "garbage_rate",
    "malformed_success_rate",
    "job_failure_rate",
    "job_stuck_rate",
)
_DURATION_FIELDS = (
    "retry_after_seconds",
    "latency_ms",
    "latency_jitter_ms",
    "timeout_sleep_seconds",
    "outage_after_lost_seconds",
    "job_seconds",
)
# A 200 whose body is an HTML error page but whose Content-Type still claims JSON: what a
# misconfigured proxy in front of a SaaS really returns. The header lies on purpose so a client
# cannot get away with trusting it instead of handling a parse failure.
GARBAGE_BODY = (
    b"<html><head><title>Service Temporarily Unavailable</title></head>"
    b"<body><h1>Maintenance</h1><p>upstream returned an unexpected page</p></body></html>"
)
# A 2xx that is valid JSON but lacks the id the client needs (transaction_id / redemption_id):
# what a vendor sends when its answer is built before the effect's id is known, or a gateway
# substitutes a canned acknowledgement. Parsing succeeds, so only a client that checks the body
# against the contract notices.
MALFORMED_SUCCESS_BODY = b'{"status":"accepted"}'


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

    ``outage_after_lost`` chains the two: once that many applied effects (2xx answers) have had
    their answer lost or hung, the vendor is down for ``outage_after_lost_seconds`` from that very
    request, so the retries of the effect it left in doubt meet the outage. Decided under the
    vendor's lock: no watcher racing the client's retries, however loaded the machine.

    ``async_operations`` (``points``, ``voucher``, ``reward``, ``voucher_reversal``,
    ``reward_reversal``) are answered ``202 Accepted`` with a job (``fake_vendor/jobs.py``) that
    takes effect ``job_seconds`` later; ``job_failure_rate`` of the jobs fail without effect and
    ``job_stuck_rate`` never finish. The job status endpoint meets the same faults as any call.
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
    # 0: never. See the class docstring.
    outage_after_lost: int = 0
    outage_after_lost_seconds: float = 0.0
    async_operations: list[str] = field(default_factory=list)
    job_seconds: float = 1.0
    job_failure_rate: float = 0.0
    job_stuck_rate: float = 0.0
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
        after = self.outage_after_lost
        if not isinstance(after, int) or isinstance(after, bool) or after < 0:
            raise ValueError(f"outage_after_lost must be an integer >= 0, got {after!r}")
        if after > 0 and self.outage_after_lost_seconds <= 0:
            raise ValueError("outage_after_lost needs outage_after_lost_seconds > 0")
        if self.job_failure_rate + self.job_stuck_rate > 1.0:
            raise ValueError("job_failure_rate + job_stuck_rate must be at most 1")
        operations = self.async_operations
        if not isinstance(operations, list | tuple) or not all(
            op in ASYNC_OPERATIONS for op in operations
        ):
            raise ValueError(
                f"async_operations must be a list of {', '.join(ASYNC_OPERATIONS)}, "
                f"got {operations!r}"
            )
        object.__setattr__(self, "async_operations", list(operations))
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


class TokenBucket:
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


class FaultInjector:
    """Applies a profile to the vendor's answers: the faults decided before the request is
    processed (nothing applied), and those that act on its answer after the effect. Keeps the
    profile's random draws, rate-limit bucket and fault clock, and counts what it injected. Not
    thread-safe: the vendor calls it under its lock."""

    def __init__(self) -> None:
        self.rng = random.Random()
        self.profile = FaultProfile()
        self.bucket: TokenBucket | None = None
        # time.monotonic() at which the fault clock started: outage offsets count from here.
        # None while armed to start at the next request (``restart_clock(on_next_request=True)``).
        self.clock_start: float | None = time.monotonic()
        self.injected: dict[str, int] = {}
        # Applied effects whose answer was lost or hung under this profile, and the outage
        # (start, end) on the fault clock that ``outage_after_lost`` began, if it has.
        self.lost_effects = 0
        self.chained_outage: tuple[float, float] | None = None

    def apply(self, profile: FaultProfile) -> None:
        self.profile = profile
        if profile.seed is not None:
            self.rng = random.Random(profile.seed)
        now = time.monotonic()
        # A new profile starts with a full bucket, as a freshly provisioned API plan would.
        rps = profile.rate_limit_rps
        self.bucket = TokenBucket(rps, now) if rps is not None else None
        self.clock_start = now
        self.lost_effects = 0
        self.chained_outage = None
        logger.info("fake vendor fault profile set: %s", profile)

    def reset(self) -> None:
        self.injected.clear()
        self.rng = random.Random()
        self.apply(FaultProfile())

    def restart_clock(self, *, on_next_request: bool = False) -> None:
        self.clock_start = None if on_next_request else time.monotonic()

    def latency_seconds(self) -> float:
        # Latency applies to every /v1 answer, fault answers included: a 503 also crosses a network.
        latency_ms = self.profile.latency_ms
        if self.profile.latency_jitter_ms > 0:
            latency_ms += self.rng.uniform(0.0, self.profile.latency_jitter_ms)
        return latency_ms / 1000.0

    def before_effect(self) -> Reply | None:
        """The answer of a fault that refuses the request before it is processed, if one does."""
        faults = self.profile
        now = time.monotonic()
        if self.clock_start is None:
            self.clock_start = now
        elapsed = now - self.clock_start
        chained = [] if self.chained_outage is None else [self.chained_outage]
        for start, end in [*faults.outages, *chained]:
            if start <= elapsed < end:
                self._count("outage")
                return error(
                    503,
                    "vendor_unavailable",
                    "the loyalty service is down for maintenance",
                    headers=(("Retry-After", format_seconds(end - elapsed)),),
                )
        retry_after = (("Retry-After", format_seconds(faults.retry_after_seconds)),)
        if self.bucket is not None and not self.bucket.take(now):
            self._count("rate_limit")
            return error(
                429,
                "rate_limited",
                f"rate limit of {faults.rate_limit_rps} requests per second exceeded",
                headers=retry_after,
            )
        if self._roll(faults.throttle_rate):
            self._count("throttle")
            return error(429, "rate_limited", "too many requests, slow down", headers=retry_after)
        if self._roll(faults.error_rate):
            self._count("error")
            return error(503, "unavailable", "the loyalty service is temporarily unavailable")
        if self._roll(faults.garbage_rate):
            self._count("garbage")
            return Reply(status=200, body=GARBAGE_BODY)
        return None

    def after_effect(self, reply: Reply, *, fresh: bool) -> Reply:
        """The answer as the client gets it once the effect (if any) is applied and stored. None
        of these faults may answer 429 or 503 (see the package's HTTP contract)."""
        faults = self.profile
        delay = 0.0
        # An effect just applied (a fresh 2xx) whose answer the client will not see.
        applied = fresh and 200 <= reply.status < 300
        lost = False
        if faults.timeout_sleep_seconds > 0 and self._roll(faults.timeout_rate):
            # The effect (if any) is already applied and stored: like a real vendor that commits
            # and then hangs. A client retry with the same key gets the stored answer replayed.
            # A 0 s hang is no hang, so it is neither drawn nor counted.
            self._count("timeout")
            delay = faults.timeout_sleep_seconds
            lost = True
        if fresh and self._roll(faults.lost_response_rate):
            # Only answers that were just produced (and stored) are "lost": the knob exists to
            # prove that a retry with the same Idempotency-Key recovers the real answer, which a
            # lost replay would make impossible at rate 1.
            self._count("lost_response")
            lost = True
            reply = error(502, "bad_gateway", "upstream connection reset before the response")
        elif fresh and 200 <= reply.status < 300 and self._roll(faults.malformed_success_rate):
            # Fresh successes only, for the same reason as lost responses: the stored answer stays
            # the real one, so a replay (or a key lookup) must be able to recover it; a malformed
            # replay would make that impossible at rate 1. An error answer has no id to drop.
            self._count("malformed_success")
            reply = replace(reply, body=MALFORMED_SUCCESS_BODY)
        if applied and lost:
            self._lost_an_effect()
        return replace(reply, delay_seconds=reply.delay_seconds + delay)

    def job_fate(self) -> Fate:
        """How the next job ends: one draw, failure first, then stuck."""
        failure, stuck = self.profile.job_failure_rate, self.profile.job_stuck_rate
        if failure + stuck <= 0.0:
            return "succeed"
        draw = self.rng.random()
        if draw < failure:
            self._count("job_failed")
            return "fail"
        if draw < failure + stuck:
            self._count("job_stuck")
            return "stuck"
        return "succeed"

    def _lost_an_effect(self) -> None:
        self.lost_effects += 1
        seconds = self.profile.outage_after_lost_seconds
        if self.lost_effects == self.profile.outage_after_lost and self.clock_start is not None:
            begun = time.monotonic() - self.clock_start
            self.chained_outage = (begun, begun + seconds)

    def _roll(self, probability: float) -> bool:
        # No draw for 0 or 1, so a seeded sequence only depends on the knobs that are really random.
        if probability <= 0.0:
            return False
        if probability >= 1.0:
            return True
        return self.rng.random() < probability

    def _count(self, kind: str) -> None:
        self.injected[kind] = self.injected.get(kind, 0) + 1

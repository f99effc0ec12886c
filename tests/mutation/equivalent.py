"""Mutants that cannot change behaviour, by key (``Mutant.key``), each with the reason. They are
listed, not counted: a score counts only mutants a test could notice."""

from __future__ import annotations

_KIND_ORDER = "{POINTS_ITEM: 0, 'voucher': 1, 'reward': 2}"
_SETTLEMENT = "lambdas/loyalty/domain/settlement.py"
_RESILIENCE = "lambdas/vendor_mediator/resilience.py"
_MEDIATION = "lambdas/vendor_mediator/mediation.py"
_REQUEST_STATE = "lambdas/vendor_mediator/request_state.py"

EQUIVALENT: dict[str, str] = {
    "lambdas/loyalty/domain/points.py <module>: constant: 60 -> 61": (
        "the floor context's precision: 60 and 61 digits are both wider than any line amount "
        "(at most 10 digits and 2 places) times a rate, so net * rate is exact either way"
    ),
    "lambdas/loyalty/domain/discounts.py proportion_discount: boolean: True -> False": (
        "zip(..., strict=False): allocate returns exactly one share per weight, so the two "
        "sequences are always the same length and strictness never triggers"
    ),
    "lambdas/loyalty/domain/validation.py validate_order: boolean: False -> True": (
        "errors(include_url=True) adds a 'url' key to each error, which _problems_from never "
        "reads (it takes loc, ctx and msg)"
    ),
    f"{_SETTLEMENT} <module>: entry dropped: {_KIND_ORDER} -> {{POINTS_ITEM: 0, 'voucher': 1}}": (
        "a reward then ranks len(_KIND_ORDER) = 2, its rank before (item keys are of three "
        "kinds only: loyalty.order_status makes points, voucher#... and reward#...)"
    ),
    f"{_SETTLEMENT} <module>: constant: 0 -> 1": (
        "points would tie with vouchers at rank 1, and the tie is broken by the key: 'points' "
        "sorts before every 'voucher#...'"
    ),
    f"{_SETTLEMENT} <module>: constant: 2 -> 3": (
        "rewards would tie with unknown kinds at rank 3, and there are none (item keys are of "
        "three kinds only: loyalty.order_status makes points, voucher#... and reward#...)"
    ),
    "lambdas/loyalty/domain/compensation.py CompensationOutcome: boolean: True -> False": (
        "@dataclass(frozen=False): nothing assigns to a CompensationOutcome's fields"
    ),
    "lambdas/loyalty/domain/compensation.py _code: constant: 1 -> 2 #2": (
        "split('#', 2) instead of split('#', 1): a voucher or reward code cannot contain '#' "
        "(the order model's Code pattern is [A-Za-z0-9_-]+), so there is only one '#' to split at"
    ),
    f"{_SETTLEMENT} item_order: constant: 1 -> 2": (
        "key.split('#', 2)[0] instead of key.split('#', 1)[0]: the part before the first '#' "
        "is the same however many splits follow"
    ),
    f"{_SETTLEMENT} Settlement: boolean: True -> False": (
        "@dataclass(frozen=False): nothing assigns to a Settlement's fields after it is made"
    ),
    f"{_RESILIENCE} Permit: boolean: True -> False": (
        "@dataclass(frozen=False): nothing assigns to a Permit's fields, and none is hashed"
    ),
    f"{_RESILIENCE} Permit: constant: 0.0 -> 1.0": (
        "the default retry_after of a Permit: only a refusal's retry_after is read (the mediator "
        "reads it when not permit.allowed), and every refusal sets its own"
    ),
    f"{_RESILIENCE} _number: constant: 0.0 -> 1.0": (
        "the value of an absent attribute: the times it stands for are epoch seconds (a missing "
        "throttled_until, opened_at, probe_until or tat at 0 or at 1 is equally long past), and "
        "the counts it reads are always present after the write that returned them"
    ),
    f"{_RESILIENCE} RateLimiter.__init__: boolean: False -> True": (
        "the first acquire's hint (_took_next): a consumer is busy only if its last slot was "
        "less than a second ago, and the initial last slot is -inf, so the hint is never used"
    ),
    **{
        f"{_RESILIENCE} CircuitBreaker._count: constant: 0 -> 1{nth}": (
            "the window returned after three lost races, (1, 0) or (0, 1) instead of (0, 0): "
            "with min_requests >= 1 and 0 < failure_rate <= 1 (the settings' types refuse "
            "others) none of them opens the circuit"
        )
        for nth in ("", " #2")
    },
    f"{_RESILIENCE} _n: constant: 3 -> 4": (
        "times and counts kept to a tenth of a millisecond instead of a millisecond: every "
        "decision compares them at the scale of seconds (cool-downs, leases, windows, "
        "Retry-After), and the conditions compare a stored value with itself read back"
    ),
    f"{_RESILIENCE} CircuitBreaker.throttle: expression: "
    "'attribute_not_exists(throttled_until) OR throttled_until < :until' -> "
    "'attribute_not_exists(throttled_until) OR throttled_until <= :until'": (
        "a Retry-After ending exactly when the one recorded ends: writing the same time again "
        "changes nothing"
    ),
    f"{_RESILIENCE} RateLimiter.acquire: comparison: slot > now -> slot >= now": (
        "a slot that is exactly now: sleeping zero seconds is not sleeping"
    ),
    f"{_RESILIENCE} CircuitBreaker.permit: constant: 0 -> 1": (
        "the probe lease assumed when a half-open circuit has none: HALF_OPEN is only ever "
        "written together with probe_until (the OPEN -> HALF_OPEN write sets both)"
    ),
    f"{_RESILIENCE} CircuitBreaker._count: expression: "
    "'attribute_not_exists(window_start) OR window_start < :floor' -> "
    "'attribute_not_exists(window_start) OR window_start <= :floor'": (
        "a window starting exactly at the floor is counted by the first write (its condition is "
        "window_start >= :floor), so this second write never meets the equality"
    ),
    **{
        f"{_RESILIENCE} RateLimiter.{write}: constant: 3600 -> 3601": (
            "the quota record's time to live, an hour or an hour and a second after its last "
            "slot: it only has to outlive the one second a slot matters for (a shorter "
            "TTL is tested; a second more is no behaviour)"
        )
        for write in ("_take_next", "_take_now")
    },
    **{
        f"{_MEDIATION} {name}: boolean: True -> False": (
            f"@dataclass(frozen=False) for {name}: nothing assigns to its fields once made, and "
            "none is hashed"
        )
        for name in ("Verdict", "Requeue", "Park", "MediationPolicy")
    },
    f"{_MEDIATION} Mediator.process: comparison: delivery > 1 -> delivery >= 1 #2": (
        "counting crashed deliveries on a first delivery too: delivery - 1 - handled is then "
        "at most 0, so no crash is counted either way (the first comparison, whether to read "
        "the request's memory at all, is tested)"
    ),
    f"{_MEDIATION} Mediator._poll: and/or: prior.job is not None and prior.job_accepted_at "
    "is not None -> prior.job is not None or prior.job_accepted_at is not None": (
        "an assert for the type checker: a job and its accepted-at time are written together "
        "(RequestStates.save(job=...)), so the weaker assert holds whenever the stronger does"
    ),
    f"{_REQUEST_STATE} RequestState: boolean: True -> False": (
        "@dataclass(frozen=False) for RequestState: nothing assigns to its fields once made, and "
        "none is hashed"
    ),
    f"{_REQUEST_STATE} RequestState: constant: 0 -> 1": (
        "the default of handled is only taken by a first delivery's empty state, and a first "
        "delivery never counts crashes (Mediator.process reads handled from delivery 2, whose "
        "state is loaded with its own count)"
    ),
}

"""The vendor's endpoints, matched by werkzeug's router on the raw path (a path parameter may
hold an escaped ``/``, as an idempotency key can), and their labels in the stats."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal
from urllib.parse import unquote

from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import Map, RequestRedirect, Rule

Area = Literal["health", "admin", "v1"]


@dataclass(frozen=True)
class Route:
    name: str
    method: str
    template: str
    area: Area

    @property
    def label(self) -> str:
        return f"{self.method} {self.template}"


ROUTES = (
    Route("health", "GET", "/health", "health"),
    Route("admin_faults", "POST", "/_admin/faults", "admin"),
    Route("admin_stats", "GET", "/_admin/stats", "admin"),
    Route("admin_add_voucher", "PUT", "/_admin/vouchers/{code}", "admin"),
    Route("admin_add_reward", "PUT", "/_admin/rewards/{code}", "admin"),
    Route("get_account", "GET", "/v1/accounts/{account}", "v1"),
    Route("post_points", "POST", "/v1/accounts/{account}/points", "v1"),
    Route("redeem_voucher", "POST", "/v1/vouchers/{code}/redemptions", "v1"),
    Route("redeem_reward", "POST", "/v1/rewards/{code}/redemptions", "v1"),
    Route("reverse_voucher", "POST", "/v1/vouchers/{code}/reversals", "v1"),
    Route("reverse_reward", "POST", "/v1/rewards/{code}/reversals", "v1"),
    Route("get_idempotency_key", "GET", "/v1/idempotency-keys/{key}", "v1"),
    Route("get_job", "GET", "/v1/jobs/{job_id}", "v1"),
)
_BY_NAME = {route.name: route for route in ROUTES}
_ROUTER = Map(
    [
        Rule(
            route.template.replace("{", "<").replace("}", ">"),
            endpoint=route.name,
            methods=[route.method],
        )
        for route in ROUTES
    ],
    merge_slashes=False,
).bind("vendor")


@dataclass(frozen=True)
class Match:
    route: Route | None
    """The endpoint the path names (None: no such path)."""
    params: dict[str, str]
    method_allowed: bool


def match(method: str, path: str) -> Match:
    """The route for ``method`` on ``path``; when the path exists for another method only, that
    route with ``method_allowed`` false (a 405 names its method)."""
    if "//" in path:
        # Exact paths only: werkzeug would read ``//v1`` as ``/v1`` (or redirect), a client
        # that sends it has a bug the vendor should not hide.
        return Match(None, {}, method_allowed=False)
    try:
        name, params = _ROUTER.match(path, method)
    except MethodNotAllowed as refused:
        # werkzeug allows HEAD wherever GET is; the vendor does not answer HEAD.
        allowed = next(m for m in refused.valid_methods or () if m != "HEAD")
        name, params = _ROUTER.match(path, allowed)
        return Match(_BY_NAME[str(name)], _unquoted(params), method_allowed=False)
    except (NotFound, RequestRedirect):
        return Match(None, {}, method_allowed=False)
    return Match(_BY_NAME[str(name)], _unquoted(params), method_allowed=True)


def _unquoted(params: Mapping[str, object]) -> dict[str, str]:
    return {name: unquote(str(value)) for name, value in params.items()}

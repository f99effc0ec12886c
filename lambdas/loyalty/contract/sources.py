"""Who puts events: the domain, the resource prefix and each service's source, per copy."""

from __future__ import annotations

from enum import StrEnum
from typing import Final

DEFAULT_DOMAIN: Final = "LEGO-LOYALTY"
"""Seed 000's ``metadata.domain``; configurable (cdk.json ``loyalty:domain``)."""


DEFAULT_PREFIX: Final = "loyalty"
"""``loyalty:resourcePrefix`` of the default copy of the system."""


class Source(StrEnum):
    """EventBridge ``source`` of each service in the default copy (and seed 000's
    ``metadata.service`` values, which every copy keeps); another copy's are `source_of`."""

    ORDER_PROCESS = "service-loyalty-order-process"
    VENDOR_MEDIATOR = "service-loyalty-vendor-mediator"
    ORDER_INTAKE = "service-loyalty-order-intake"
    """Whoever accepts orders from clients (the Order API, a till integration, a test) puts
    ``order.received`` with this source."""


def source_of(service: Source, prefix: str = DEFAULT_PREFIX) -> str:
    """The ``source`` ``service`` puts events with in the copy deployed with
    ``loyalty:resourcePrefix`` = ``prefix``: ``service-<prefix>-...``. Two copies in one account
    share the default bus; every rule filters on its own copy's sources, and every publisher may
    put only its own (IAM), so neither copy takes the other's events."""
    return service.value.replace(f"service-{DEFAULT_PREFIX}-", f"service-{prefix}-", 1)


def sources_of(prefix: str = DEFAULT_PREFIX) -> list[str]:
    """Every source of one copy."""
    return [source_of(service, prefix) for service in Source]

"""The default bus as one service of this app sees it: its own source, and the contract's names
for the environment variables its publishers read."""

from __future__ import annotations

from constructs import Construct

from cdk_constructs.default_bus import DefaultBus
from loyalty.contract import Env, Source, source_of


def service_bus(scope: Construct, source: Source, prefix: str) -> DefaultBus:
    return DefaultBus(
        scope,
        "Bus",
        event_source=source_of(source, prefix),
        bus_name_env=Env.EVENT_BUS.value,
        source_env=Env.EVENT_SOURCE.value,
    )

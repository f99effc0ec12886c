"""Configuration from cdk.json context: typed, validated, and consistent with the dependencies."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from app import cdk_json_context
from stacks.config import ConfigError, LoyaltyConfig

ROOT = Path(__file__).resolve().parents[2]


class Node:
    def __init__(self, context: dict[str, Any]) -> None:
        self._context = context

    def try_get_context(self, key: str) -> Any:
        return self._context.get(key)


def config(**overrides: Any) -> LoyaltyConfig:
    context = {**cdk_json_context(), **{f"loyalty:{k}": v for k, v in overrides.items()}}
    return LoyaltyConfig.from_context(Node(context))


def test_cdk_json_gives_a_complete_config_with_the_seed_domain() -> None:
    loaded = config()
    assert loaded.domain == "LEGO-LOYALTY"
    assert loaded.worker_wait.heartbeat.to_seconds() == 60
    assert loaded.vendor_wait.heartbeat.to_seconds() == loaded.mediator.answer_horizon_seconds


def test_powertools_layer_version_is_the_version_the_tests_run_against() -> None:
    pinned = re.search(
        r"^aws-lambda-powertools==(\S+)$", (ROOT / "requirements-dev.txt").read_text(), re.MULTILINE
    )
    assert pinned is not None
    assert config().powertools_version == pinned.group(1)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"vendorBaseUrl": "not a url"}, "loyalty:vendorBaseUrl"),
        ({"pointsPerCurrencyUnit": "lots"}, "loyalty:pointsPerCurrencyUnit"),
        ({"workerStepHeartbeatSeconds": 400}, "heartbeat"),
        ({"domain": ""}, "loyalty:domain"),
        ({"vendorMaxConcurrency": 1}, "vendorMaxConcurrency"),
        ({"vendorBatchSize": 11}, "vendorBatchSize"),
        ({"vendorReconcileSeconds": 10**7}, "executionTimeoutSeconds"),
    ],
)
def test_bad_context_fails_with_the_key_named(override: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        config(**override)

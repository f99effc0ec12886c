"""Shared test set-up: no test can reach AWS, and jsii stays quiet."""

from __future__ import annotations

import importlib
import json
import os
from pathlib import Path
from typing import Any

# Fake credentials first: whatever a test forgets to mock fails instead of reaching an account.
for _key, _value in {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_SERVICE_NAME": "tests",
    "POWERTOOLS_METRICS_NAMESPACE": "LoyaltyTests",
    "JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION": "1",
}.items():
    os.environ[_key] = _value


# The pinned Node.js for jsii before anything imports aws_cdk (no end-of-life banner outside make).
importlib.import_module("cdk_constructs._node")

import pytest  # noqa: E402
from aws_cdk import Stack  # noqa: E402
from aws_cdk.assertions import Template  # noqa: E402

from app import (  # noqa: E402
    OBSERVABILITY_STACK,
    ORDER_API_STACK,
    ORDER_PROCESSING_STACK,
    VENDOR_MEDIATOR_STACK,
    build_app,
)
from local_cloud import cloud as cloud_module  # noqa: E402

# Under pytest-xdist, each worker's local clouds keep their logs apart (.local_cloud/gw0/...).
if _worker := os.environ.get("PYTEST_XDIST_WORKER"):
    cloud_module.WORKDIR = cloud_module.WORKDIR / _worker

FIGURES = "figures"
"""The name of a report property that pytest's summary prints (fault scenarios' figures)."""
_figures: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    # Called in the controller for every worker's reports when the suite runs under xdist.
    if report.when == "teardown":
        _figures.extend(str(value) for name, value in report.user_properties if name == FIGURES)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _figures:
        terminalreporter.section("fault scenarios")
        for line in _figures:
            terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def stacks() -> dict[str, Stack]:
    """The app as `cdk synth` builds it (cdk.json context), synthesised once per session."""
    app = build_app({})
    return {
        name: app.node.find_child(name)  # type: ignore[misc]
        for name in (
            ORDER_PROCESSING_STACK,
            VENDOR_MEDIATOR_STACK,
            ORDER_API_STACK,
            OBSERVABILITY_STACK,
        )
    }


_TEMPLATES = os.environ.get("LOYALTY_TEST_TEMPLATES")
"""A directory where the synthesised templates are kept and reused by later sessions: set by
`make mutation`, whose every run has the same CDK code (mutants are in ``lambdas/``), so one
synth serves them all. Unset, each session synthesises its own."""


def _template(request: pytest.FixtureRequest, stack: str) -> Template:
    cached = Path(_TEMPLATES) / f"{stack}.json" if _TEMPLATES else None
    if cached is not None and cached.exists():
        return Template.from_json(json.loads(cached.read_text()))
    template = Template.from_stack(request.getfixturevalue("stacks")[stack])
    if cached is not None:
        partial = cached.with_suffix(f".{os.getpid()}")
        partial.write_text(json.dumps(template.to_json()))
        partial.replace(cached)  # whole or not at all, whoever reads it
    return template


@pytest.fixture(scope="session")
def order_template(request: pytest.FixtureRequest) -> Template:
    return _template(request, ORDER_PROCESSING_STACK)


@pytest.fixture(scope="session")
def vendor_template(request: pytest.FixtureRequest) -> Template:
    return _template(request, VENDOR_MEDIATOR_STACK)


@pytest.fixture(scope="session")
def api_template(request: pytest.FixtureRequest) -> Template:
    return _template(request, ORDER_API_STACK)


@pytest.fixture(scope="session")
def observability_template(request: pytest.FixtureRequest) -> Template:
    return _template(request, OBSERVABILITY_STACK)

"""The configuration table (docs/configuration.md) says what cdk.json and the code do: every key
it names is one the code reads, and every default it gives, set explicitly, changes nothing."""

from __future__ import annotations

import dataclasses
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App, Duration
from aws_cdk.assertions import Template

from app import cdk_json_context
from stacks.config import LoyaltyConfig
from tests.infrastructure.asl import all_states, definition

TABLE = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"
DESCRIBED = {"loyalty:account", "loyalty:region", "loyalty:vendorBaseUrl"}
"""Keys whose default the table describes in words (the CLI's; a placeholder URL)."""


def _rows() -> list[tuple[str, str]]:
    section = TABLE.read_text()
    return [
        (cells[0], cells[1])
        for line in section.splitlines()
        if line.startswith("| `loyalty:")
        for cells in [[c.strip() for c in line.strip("|").split("|")]]
    ]


def _keys(cell: str) -> list[str]:
    """``loyalty:a{B,C}D`` → aBD, aCD; `` / `Suffix` `` and ``, `Suffix` `` reuse the first key's
    stem (``vendorConnectTimeoutSeconds / ReadTimeoutSeconds``)."""
    names = re.findall(r"`([^`]+)`", cell)
    first = names[0].removeprefix("loyalty:")
    expanded: list[str] = []
    braces = re.fullmatch(r"(\w*)\{([\w,]+)\}(\w*)", first)
    if braces:
        head, middle, tail = braces.groups()
        expanded = [f"{head}{part}{tail}" for part in middle.split(",")]
        stem = head
    else:
        expanded = [first]
        stem = re.match(r"[a-z]+", first).group(0)  # type: ignore[union-attr]
    for name in names[1:]:
        name = name.removeprefix("loyalty:")
        expanded.append(name if name[0].islower() else stem + name)
    return expanded


def _values(cell: str) -> list[str] | None:
    """The defaults a cell gives, one per key; None when it describes one in words."""
    text = re.sub(r"\s*\(.*?\)", "", cell).replace("`", "").strip()
    if not text:
        return None
    return [v.strip() for v in re.split(r"\s*[/,]\s*", text)]


def _normalised(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _normalised(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Duration):
        return ("seconds", value.to_seconds())
    if isinstance(value, Decimal):
        return ("decimal", str(value))
    return value


def _config(extra: dict[str, Any]) -> Any:
    app = App(context={**cdk_json_context(), **extra})
    return _normalised(LoyaltyConfig.from_context(app.node))


ROWS = _rows()


def test_the_table_lists_every_key_the_code_reads() -> None:
    documented = {f"loyalty:{key}" for cell, _ in ROWS for key in _keys(cell)}
    code = Path(__file__).resolve().parents[2].joinpath("stacks/config.py").read_text()
    read = set(re.findall(r'ctx\.(?!wait)\w+\(\s*"(\w+)"', code))
    for wait in re.findall(r'ctx\.wait\(\s*"(\w+)"', code):  # a wait policy's three keys
        read |= {f"{wait}HeartbeatSeconds", f"{wait}TimeoutSeconds", f"{wait}Retries"}
    assert documented == {f"loyalty:{name}" for name in read}


@pytest.mark.parametrize(("keys", "defaults"), ROWS, ids=[row[0] for row in ROWS])
def test_each_documented_default_is_what_the_synth_uses(keys: str, defaults: str) -> None:
    names = _keys(keys)
    values = _values(defaults)
    if values is None or set(f"loyalty:{n}" for n in names) <= DESCRIBED:
        pytest.skip("a default described in words")
    assert len(values) == len(names), (names, values)
    explicit = {f"loyalty:{name}": value for name, value in zip(names, values, strict=True)}
    assert _config(explicit) == _config({}), explicit


def test_the_derived_timings_the_docs_give_are_the_synthesised_ones(
    vendor_template: Template, order_template: Template
) -> None:
    section = TABLE.read_text()
    found = re.search(
        r"job timeout (\d+) s, deadline (\d+) s, reconciliation window (\d+) s,\s+function "
        r"timeout\s+(\d+) s, visibility (\d+) s, .*?heartbeat (\d+) s",
        section,
        re.S,
    )
    assert found is not None, "docs/configuration.md's sentence about the derived timings moved"
    job, deadline, reconcile, function, visibility, heartbeat = map(int, found.groups())
    (mediator,) = [
        r["Properties"]
        for k, r in vendor_template.find_resources("AWS::Lambda::Function").items()
        if k.startswith("Mediator")
    ]
    env = mediator["Environment"]["Variables"]
    (queue,) = [
        r["Properties"]
        for k, r in vendor_template.find_resources("AWS::SQS::Queue").items()
        if k.startswith("RequestsQueue")
    ]
    heartbeats = {
        state["HeartbeatSeconds"]
        for name, state in all_states(definition(order_template, "STANDARD")["States"])
        if name in ("ApplyPoints", "RedeemVoucher", "RedeemReward")
    }
    assert (job, deadline, reconcile) == (
        int(env["VENDOR_JOB_TIMEOUT_SECONDS"]),
        int(env["VENDOR_DEADLINE_SECONDS"]),
        int(env["VENDOR_RECONCILE_SECONDS"]),
    )
    assert (function, visibility) == (mediator["Timeout"], queue["VisibilityTimeout"])
    assert heartbeats == {heartbeat}

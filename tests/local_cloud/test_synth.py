"""Synthesis for the local cloud: one assembly per context and source tree, reused while neither
changes, synthesised anew when either does."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

import app
from local_cloud.run import synth
from loyalty.contract import Env


def mediator_environment(assembly: Path) -> dict[str, Any]:
    template = json.loads((assembly / "LoyaltyVendorMediator.template.json").read_text())
    for resource in template["Resources"].values():
        variables = resource.get("Properties", {}).get("Environment", {}).get("Variables", {})
        if Env.VENDOR_REQUESTS_PER_SECOND in variables:
            return dict(variables)
    raise AssertionError("no function with the vendor quota")


def test_an_assembly_is_reused_for_its_context_and_made_anew_for_another(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seven = synth.synthesise({"loyalty:vendorRequestsPerSecond": 7}, cache=tmp_path)
    assert float(mediator_environment(seven)[Env.VENDOR_REQUESTS_PER_SECOND]) == 7

    def no_synthesis(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("synthesised again")

    monkeypatch.setattr(app, "build_app", no_synthesis)
    assert synth.synthesise({"loyalty:vendorRequestsPerSecond": 7}, cache=tmp_path) == seven
    with pytest.raises(AssertionError, match="synthesised again"):
        synth.synthesise({"loyalty:vendorRequestsPerSecond": 8}, cache=tmp_path)
    assert [p.name for p in tmp_path.iterdir() if not p.name.startswith(".")] == [seven.name]


def test_the_key_changes_with_every_source_the_assembly_is_made_from(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in synth.SOURCES:
        (tmp_path / name).write_text(name)
    for tree in synth.SOURCE_TREES:
        (tmp_path / tree / "pkg").mkdir(parents=True)
        (tmp_path / tree / "pkg" / "module.py").write_text("A = 1\n")
    monkeypatch.setattr(synth, "ROOT", tmp_path)
    context = {"loyalty:vendorRequestsPerSecond": 7}
    keys = {synth._key(context)}

    for changed in [*synth.SOURCES, *(f"{tree}/pkg/module.py" for tree in synth.SOURCE_TREES)]:
        (tmp_path / changed).write_text((tmp_path / changed).read_text() + "# edited\n")
        keys.add(synth._key(context))
    (tmp_path / "lambdas" / "pkg" / "module.py").rename(tmp_path / "lambdas" / "pkg" / "moved.py")
    keys.add(synth._key(context))
    keys.add(synth._key({**context, "loyalty:vendorRequestsPerSecond": 8}))

    assert len(keys) == len(synth.SOURCES) + len(synth.SOURCE_TREES) + 3


def test_only_the_most_recently_used_assemblies_are_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(synth, "KEPT", 2)
    for age, name in enumerate(["newest", "newer", "old", "oldest"]):
        (tmp_path / name).mkdir()
        mtime = 1_000_000 - age
        os.utime(tmp_path / name, (mtime, mtime))
    synth._prune(tmp_path)

    assert sorted(p.name for p in tmp_path.iterdir()) == ["newer", "newest"]

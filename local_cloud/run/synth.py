"""Synthesise the app in-process (what ``cdk synth`` runs) into a cloud assembly for the local
cloud, once per context and source tree.

The local cloud deploys an assembly and never imports ``app.py``; the run command, the tests and
the benchmarks synthesise first, here. Assemblies are kept under ``.local_cloud/assemblies/``
by a key of the context and the app's sources (``app.py``, ``cdk.json``, ``requirements.txt``,
``stacks/``, ``cdk_constructs/``, ``lambdas/``), so a test module that deploys the same app
again (or a second pytest-xdist worker) reuses it instead of paying a synthesis (4 to 6 s of
jsii), and any edit to the app makes a new one.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from local_cloud.cloud import ACCOUNT, REGION, ROOT
from local_cloud.runtime.assembly import python_files_digest

ASSEMBLIES = ROOT / ".local_cloud" / "assemblies"
SOURCES = ("app.py", "cdk.json", "requirements.txt")
SOURCE_TREES = ("stacks", "cdk_constructs", "lambdas")
KEPT = 24
"""Assemblies kept (the most recently used); each holds a copy of the Lambda code (~1 MB)."""

LOCAL_CONTEXT = {"loyalty:account": ACCOUNT, "loyalty:region": REGION}
"""Bound to moto's account and region, as a deployment to one account is."""


def synthesise(
    context: dict[str, Any] | None = None, *, cache: Path = ASSEMBLIES, patterns: bool = False
) -> Path:
    """The cloud assembly of the app with ``context`` over cdk.json's (for a test: shorter
    heartbeats, another quota), synthesised unless an identical one is cached. ``patterns``:
    the patterns demo's app (``stacks/patterns_demo.py``) instead."""
    full = {**(context or {}), **LOCAL_CONTEXT}
    if patterns:
        full["patterns-demo"] = True  # (a key of its own in the cache)
    directory = cache / _key(full)
    if (directory / "manifest.json").exists():
        os.utime(directory)  # most recently used
        return directory
    cache.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging.", dir=cache))
    # jsii starts here: only when there is something to synthesise.
    from app import build_app, cdk_json_context
    from stacks.patterns_demo import build_patterns_app

    # The CLI asks for asset metadata by default; in-process synthesis must ask for it too.
    with_metadata = {**full, "aws:cdk:enable-asset-metadata": True}
    if patterns:
        build_patterns_app({**cdk_json_context(), **with_metadata}, outdir=str(staging)).synth()
    else:
        build_app(with_metadata, outdir=str(staging)).synth()
    try:
        staging.rename(directory)
    except OSError:  # another process synthesised the same assembly meanwhile: use theirs
        shutil.rmtree(staging, ignore_errors=True)
    _prune(cache)
    return directory


def _key(context: dict[str, Any]) -> str:
    digest = hashlib.sha256(json.dumps(context, sort_keys=True, default=str).encode())
    for name in SOURCES:
        digest.update((ROOT / name).read_bytes())
    for tree in SOURCE_TREES:
        digest.update(python_files_digest(ROOT / tree).encode())
    return digest.hexdigest()[:20]


def _prune(cache: Path) -> None:
    assemblies = sorted(
        (p for p in cache.iterdir() if p.is_dir() and not p.name.startswith(".")),
        key=lambda p: p.stat().st_mtime,
        reverse=True,
    )
    for old in assemblies[KEPT:]:
        shutil.rmtree(old, ignore_errors=True)
    for staging in cache.glob(".staging.*"):
        # A synthesis younger than ten minutes may be another process's, still running.
        if time.time() - staging.stat().st_mtime > 600:
            shutil.rmtree(staging, ignore_errors=True)

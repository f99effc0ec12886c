"""The pinned CDK CLI reads this CDK's cloud assembly (npm's `latest` CLI cannot)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CDK = ROOT / "node_modules" / ".bin" / "cdk"


def test_cdk_synth_with_the_pinned_cli_produces_every_stack_offline(tmp_path: Path) -> None:
    if not CDK.exists():
        pytest.skip("node_modules is missing: run `make setup` (make test does)")
    env = {
        **os.environ,
        "PATH": f"{ROOT / 'node_modules' / '.bin'}:{ROOT / '.venv' / 'bin'}:{os.environ['PATH']}",
        # No credentials at all: synth must not need an account.
        "AWS_ACCESS_KEY_ID": "",
        "AWS_SECRET_ACCESS_KEY": "",
        "AWS_SESSION_TOKEN": "",
        "AWS_PROFILE": "",
    }
    result = subprocess.run(
        [str(CDK), "synth", "--quiet", "--no-notices", "--output", str(tmp_path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in tmp_path.glob("*.template.json")) == [
        "LoyaltyObservability.template.json",
        "LoyaltyOrderApi.template.json",
        "LoyaltyOrderProcessing.template.json",
        "LoyaltyVendorMediator.template.json",
    ]

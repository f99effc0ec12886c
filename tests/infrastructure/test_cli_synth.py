"""The pinned CDK CLI reads this CDK's cloud assembly (npm's `latest` CLI cannot), and what it
writes to ``cdk.out`` is what the local cloud deploys and runs."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from fake_vendor import FakeVendor
from local_cloud.cloud import LocalCloud
from local_cloud.run.sample_orders import sample_orders, seed_vendor
from loyalty.contract import Env

ROOT = Path(__file__).resolve().parents[2]
CDK = ROOT / "node_modules" / ".bin" / "cdk"


def cdk_synth(outdir: Path, *options: str) -> subprocess.CompletedProcess[str]:
    """``cdk synth`` as a user runs it, with cdk.json's context and no credentials."""
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
    return subprocess.run(
        [str(CDK), "synth", "--quiet", "--no-notices", "--output", str(outdir), *options],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture(scope="module")
def cli_assembly(tmp_path_factory: pytest.TempPathFactory) -> Path:
    outdir = tmp_path_factory.mktemp("cdk.out")
    result = cdk_synth(outdir)
    assert result.returncode == 0, result.stderr
    # What `make synth` shows a user: the one note about an environment-agnostic synth and the
    # CLI's own two lines; no warning to act on (the cross-stack reference strength and every
    # feature flag are settled in cdk.json), no stack-trace line, no error file left behind.
    # (The CLI writes its own lines to stderr on a terminal, to stdout under CI=true.)
    lines = (result.stdout + result.stderr).strip().splitlines()
    cli_lines = ("Successfully synthesized to ", "Supply a stack id (")
    ours = [line for line in lines if not line.startswith(cli_lines)]
    assert len(ours) == 1 and ours[0].startswith("note: environment-agnostic synth"), lines
    assert not (outdir / "error.txt").exists()
    return outdir


def test_cdk_synth_with_the_pinned_cli_produces_every_stack_offline(cli_assembly: Path) -> None:
    assert sorted(p.name for p in cli_assembly.glob("*.template.json")) == [
        "LoyaltyObservability.template.json",
        "LoyaltyOrderApi.template.json",
        "LoyaltyOrderProcessing.template.json",
        "LoyaltyVendorMediator.template.json",
    ]


def test_the_cli_s_assembly_deploys_on_the_local_cloud_and_runs_seed_000_s_order(
    cli_assembly: Path,
) -> None:
    """Environment-agnostic, with cdk.json's vendor URL (the local cloud points it at the fake
    vendor): the order completes and the vendor redeemed its voucher."""
    sample = sample_orders()[0]
    with FakeVendor() as vendor, LocalCloud(cli_assembly, vendor=vendor) as cloud:
        seed_vendor(vendor)
        cloud.submit_order(sample.order)
        outcome = cloud.wait_for_order(sample.reference, timeout=120)
        mediator_url = cloud.function("Mediator").environment[Env.VENDOR_BASE_URL]
        vendor_url = vendor.base_url

    assert (outcome.status, outcome.error) == (sample.expected_status, sample.expected_error)
    assert mediator_url == vendor_url
    redeemed = [r.code for r in vendor.redemptions() if r.order_reference == sample.reference]
    assert redeemed == ["1v8LlBkl"]


def test_a_bad_setting_is_one_line_naming_it_not_a_traceback(tmp_path: Path) -> None:
    result = cdk_synth(tmp_path, "-c", "loyalty:executionTimeoutSeconds=86400")
    assert result.returncode != 0
    assert "error: loyalty:executionTimeoutSeconds must exceed" in result.stderr
    assert "Traceback" not in result.stderr

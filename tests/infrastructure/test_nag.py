"""cdk-nag (AwsSolutions and Serverless packs) and cfn-lint on the synthesised app.

cdk-nag 3 reports through CDK's validation report, not through Annotations, so these tests read
the report file that every synth writes."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import aws_sqs as sqs

from app import (
    OBSERVABILITY_STACK,
    ORDER_API_STACK,
    ORDER_PROCESSING_STACK,
    VENDOR_MEDIATOR_STACK,
    build_app,
)

ROOT = Path(__file__).resolve().parents[2]
COGNITO_POOL = "arn:aws:cognito-idp:us-east-1:000000000000:userpool/us-east-1_Example"


def findings(outdir: Path) -> list[tuple[str, str, str]]:
    report = json.loads((outdir / "validation-report.json").read_text())
    return [
        (plugin["pluginName"], violation["ruleName"], construct["constructPath"])
        for plugin in report["pluginReports"]
        for violation in plugin["violations"]
        for construct in violation["violatingConstructs"]
    ]


@pytest.mark.parametrize(
    "context",
    [
        {},
        {"loyalty:apiCognitoUserPoolArn": COGNITO_POOL},
        {"loyalty:vendorApiKeySecretName": "loyalty/vendor-api-key"},
        {"loyalty:disposable": True},
        {"loyalty:alarmEmail": "oncall@example.com"},
    ],
    ids=["default", "cognito", "named-secret", "disposable", "alarm-email"],
)
def test_every_nag_finding_is_fixed_or_acknowledged(
    tmp_path: Path, context: dict[str, Any]
) -> None:
    build_app(context, outdir=str(tmp_path)).synth()  # raises on an unacknowledged error
    assert findings(tmp_path) == []  # and warnings are not left either


def test_the_checks_really_run_and_fail_the_synth(tmp_path: Path) -> None:
    app = build_app({}, outdir=str(tmp_path))
    sqs.Queue(app.node.find_child(VENDOR_MEDIATOR_STACK), "Unchecked", enforce_ssl=True)

    with pytest.raises(RuntimeError, match="AwsSolutions-SQS3"):
        app.synth()
    assert (
        "AwsSolutions",
        "AwsSolutions-SQS3",
        "LoyaltyVendorMediator/Unchecked/Resource",
    ) in findings(tmp_path)


def test_cfn_lint_finds_no_error_or_warning(tmp_path: Path) -> None:
    """W3005 (a DependsOn already implied by a GetAtt, written by CDK itself) is ignored in
    .cfnlintrc.yaml; anything else fails."""
    cfn_lint = shutil.which("cfn-lint", path=str(ROOT / ".venv" / "bin")) or shutil.which(
        "cfn-lint"
    )
    assert cfn_lint is not None, "cfn-lint is in requirements-dev.txt"
    build_app({}, outdir=str(tmp_path)).synth()
    templates = [
        str(tmp_path / f"{s}.template.json")
        for s in (
            ORDER_PROCESSING_STACK,
            VENDOR_MEDIATOR_STACK,
            ORDER_API_STACK,
            OBSERVABILITY_STACK,
        )
    ]

    result = subprocess.run(
        [cfn_lint, *templates], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
    )

    assert result.returncode == 0, result.stdout + result.stderr

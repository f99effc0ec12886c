"""cdk-nag: every finding of the AwsSolutions and Serverless packs is fixed or acknowledged."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from aws_cdk import aws_sqs as sqs

from app import VENDOR_MEDIATOR_STACK, build_app


def _findings(outdir: Path) -> list[tuple[str, str, str]]:
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
        {
            "loyalty:apiCognitoUserPoolArn": "arn:aws:cognito-idp:us-east-1:000000000000:userpool/us-east-1_abc"
        },
        {"loyalty:vendorApiKeySecretName": "loyalty/vendor-api-key"},
    ],
    ids=["default", "cognito", "named-secret"],
)
def test_every_nag_finding_is_fixed_or_acknowledged(tmp_path: Path, context: dict) -> None:
    t0 = time.time()
    build_app(context, outdir=str(tmp_path)).synth()  # raises on a failing pack
    print(f"synth {time.time() - t0:.1f}s")
    assert _findings(tmp_path) == []


def test_an_unacknowledged_finding_fails_synth(tmp_path: Path) -> None:
    print("PYTEST_VERSION", os.environ.get("PYTEST_VERSION"))
    app = build_app({}, outdir=str(tmp_path))
    sqs.Queue(app.node.find_child(VENDOR_MEDIATOR_STACK), "Unchecked", enforce_ssl=True)
    with pytest.raises(RuntimeError, match="AwsSolutions-SQS3") as e:
        app.synth()
    print(str(e.value)[:1500])
    assert (
        "AwsSolutions",
        "AwsSolutions-SQS3",
        "LoyaltyVendorMediator/Unchecked/Resource",
    ) in _findings(tmp_path)

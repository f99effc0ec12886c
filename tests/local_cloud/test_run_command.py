"""`python -m local_cloud run` (what `make run` does): the sample run, a generated run with
vendor faults and a JSON report, and clear errors for bad options."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from local_cloud.__main__ import main
from local_cloud.run.order_mix import DEFAULT_MIX, generate_orders
from local_cloud.run.sample_orders import sample_orders
from tests.readme import blocks, unmatched


def test_run_reports_every_sample_order_and_exits_zero(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["run", "--timeout", "120"])

    out = capsys.readouterr().out
    assert code == 0, out
    for sample in sample_orders():
        line = next(line for line in out.splitlines() if line.startswith(sample.reference))
        assert sample.expected_status in line
        assert "UNEXPECTED" not in line
    assert "0 not terminal, 0 unexpected" in out
    assert "Queues: 0 messages left; dead-letter queues: 0 messages" in out
    assert "as the orders expect" in out
    # The repairs: a cancellation, a compensation, and a re-run once the cause was put right.
    lines = {line.split()[0]: line for line in out.splitlines() if line[:1] == "M"}
    assert "CANCELLED" in lines["M106-S76-OP04-R05"] and "(cancelled)" in lines["M106-S76-OP04-R05"]
    assert "(compensated)" in lines["M105-S09-OP02-T04"]
    assert (
        "Re-run of M105-S09-OP02-T04 once its cause was put right: POST .../actions/retry -> 202 "
        "(attempt 2) -> COMPLETED"
    ) in out
    # What the README shows `make run` printing is what it prints (times and ports aside).
    assert not unmatched(blocks("Two commands", "text")[0], out), out


def test_a_generated_run_with_vendor_faults_writes_a_report_that_adds_up(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report_path = tmp_path / "report.json"
    argv = ["run", "--orders", "12", "--seed", "5", "--concurrency", "4"]
    # Two points per unit for this run only: the ledger check expects what the run deployed.
    argv += ["-c", "loyalty:pointsPerCurrencyUnit=2"]
    code = main([*argv, "--vendor-faults", "flaky", "--json", str(report_path)])

    out = capsys.readouterr().out
    assert code == 0, out
    report = json.loads(report_path.read_text())
    expected = generate_orders(12, DEFAULT_MIX, seed=5)
    assert [o["order_reference"] for o in report["orders"]] == [s.reference for s in expected]
    for record, sample in zip(report["orders"], expected, strict=True):
        assert (record["status"], record["error"]) == (
            sample.expected_status,
            sample.expected_error,
        )
        assert record["events"] >= 1 and record["lambda_invocations"] >= 1
        if record["status"] == "COMPLETED":
            assert record["state_transitions"] >= 9
    totals = report["totals"]
    assert sum(totals["by_status"].values()) == 12
    assert (totals["unexpected"], totals["not_terminal"]) == (0, 0)
    assert totals["vendor_ledger"]["ok"] and totals["vendor_ledger"]["mismatches"] == []
    assert totals["messages_in_queues"] == {} and totals["messages_in_dead_letter_queues"] == {}
    assert totals["iam"]["authorisations"] > 0 and totals["iam"]["refused"] == []
    assert report["settings"]["vendor_faults"] == "flaky"
    assert report["settings"]["context_overrides"] == {"loyalty:pointsPerCurrencyUnit": "2"}
    credited = [r for r in report["orders"] if r["status"] == "COMPLETED"]
    assert credited and "Settings for this run: loyalty:pointsPerCurrencyUnit=2" in out
    truth = totals["truth"]
    assert truth["ok"] and truth["disagreements"] == [] and truth["items"] >= 12
    assert totals["vendor_faults_injected"] == {
        k: v for k, v in totals["vendor_faults_injected"].items() if k in ("error", "lost_response")
    }


def test_the_outage_preset_counts_from_the_first_vendor_request_and_is_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The deploy takes seconds: an outage counted from when the options were parsed was over
    # before the first order, and injected nothing. On a busy machine the first order took
    # longer than the 3 s outage to reach its first vendor step: the clock starts there.
    report_path = tmp_path / "report.json"
    argv = ["run", "--orders", "4", "--mix", "sale=1", "--seed", "9"]
    code = main([*argv, "--vendor-faults", "outage", "--json", str(report_path)])

    out = capsys.readouterr().out
    assert code == 0, out
    totals = json.loads(report_path.read_text())["totals"]
    injected = totals["vendor_faults_injected"]["outage"]
    assert injected >= 1
    assert f"Vendor faults injected: {injected} outage" in out
    assert totals["by_status"] == {"COMPLETED": 4}  # a 3 s outage is waited out
    assert totals["truth"]["ok"]


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (["--mix", "sale=2,bogus=1"], "unknown order kind 'bogus'"),
        (["--mix", "sale=x"], "weight of 'sale' must be a whole number"),
        (["--orders", "-1"], "must be at least 0"),
        (["--vendor-faults", "stormy"], "unknown fault profile preset 'stormy'"),
        (["-c", "vendorDeadlineSeconds=60"], "write it loyalty:KEY=VALUE"),
        (["-c", "loyalty:vendorDeadlineSecond=60"], "-c loyalty:vendorDeadlineSecond: not a"),
        (["-c", "loyalty:region=eu-west-1"], "-c loyalty:region: the local cloud sets it"),
        (
            ["-c", "loyalty:executionTimeoutSeconds=86400"],
            "loyalty:executionTimeoutSeconds must exceed the approval timeout",
        ),
        (
            ["--assembly", "cdk.out", "-c", "loyalty:vendorRequestsPerSecond=5"],
            "-c changes the synthesis; with --assembly nothing is synthesised",
        ),
        (["--assembly", "/nonexistent"], "--assembly: /nonexistent is not a cloud assembly"),
        (["--port", "70000"], "must be a port number (1-65535)"),
        (["--timeline", "NOPE-1"], "--timeline: 'NOPE-1' is not an order of this run"),
        (["--orders", "3", "--timeline", "M101-S76-OP10-T65"], "is not an order of this run"),
    ],
)
def test_bad_options_are_refused_before_anything_starts(
    option: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["run", *option])
    assert exited.value.code == 2
    assert message in capsys.readouterr().err


def test_a_port_in_use_is_refused_before_anything_starts(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(SystemExit) as exited:
            main(["run", "--orders", "0", "--serve", "--port", str(port)])
    assert exited.value.code == 2
    assert f"port {port} is in use" in capsys.readouterr().err


def test_help_shows_the_defaults_in_plain_text(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["run", "--help"])
    shown = capsys.readouterr().out
    assert exited.value.code == 0
    assert "(default: 120)" in shown  # --timeout
    assert "(default: healthy)" in shown  # --vendor-faults
    assert "(default: None)" not in shown
    assert "``" not in shown  # no reStructuredText markup

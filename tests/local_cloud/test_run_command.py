"""`python -m local_cloud run` (what `make run` does) succeeds and reports every sample order."""

from __future__ import annotations

import pytest

from local_cloud.__main__ import main
from local_cloud.sample_orders import sample_orders


def test_run_reports_every_sample_order_and_exits_zero(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["run", "--timeout", "120"])

    out = capsys.readouterr().out
    assert code == 0, out
    for sample in sample_orders():
        line = next(line for line in out.splitlines() if line.startswith(sample.reference))
        assert sample.expected_status in line
        assert "UNEXPECTED" not in line
    assert "0 not terminal, 0 unexpected" in out
    assert "Dead-letter queues: 0 messages" in out

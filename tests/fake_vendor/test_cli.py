"""``python -m fake_vendor``: the stand-in SaaS served on its own, for other clients."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import urllib3

pytestmark = pytest.mark.timeout(60)
ROOT = Path(__file__).resolve().parents[2]


def serve(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "fake_vendor", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )


def test_it_serves_the_seeded_books_until_interrupted_then_prints_its_stats() -> None:
    server = serve("--account", "member-1=100", "--voucher", "V-1", "--api-key", "k-1")
    try:
        assert server.stdout is not None
        banner = server.stdout.readline()
        url = banner.split(" on ", 1)[1].split(" ", 1)[0]
        http = urllib3.PoolManager(retries=False)
        account = http.request("GET", f"{url}/v1/accounts/member-1", headers={"x-api-key": "k-1"})
        redeemed = http.request(
            "POST",
            f"{url}/v1/vouchers/V-1/redemptions",
            body=json.dumps({"account": "member-1", "order_reference": "o-1"}),
            headers={"x-api-key": "k-1", "Idempotency-Key": "key-1"},
        )
        refused = http.request("GET", f"{url}/v1/accounts/member-1", headers={"x-api-key": "k"})
    finally:
        server.send_signal(signal.SIGINT)
        out, err = server.communicate(timeout=30)

    assert (account.status, account.json()) == (200, {"account": "member-1", "balance": 100})
    assert redeemed.status == 201
    assert refused.status == 401
    assert server.returncode == 0
    stats = json.loads(out)
    assert stats["by_status"] == {"200": 1, "201": 1, "401": 1}
    # Requests are not logged (werkzeug's server would, on stderr), even at INFO.
    assert "/v1/accounts/member-1" not in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--account", "member-1"], "expected ACCOUNT=BALANCE"),
        (["--faults", "flakey"], "unknown fault profile preset 'flakey'"),
        (["--faults", "missing.json"], "cannot read fault profile missing.json"),
    ],
)
def test_bad_arguments_are_refused_with_a_message(args: list[str], message: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "fake_vendor", *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        cwd=ROOT,
    )
    assert done.returncode == 2
    assert message in done.stderr

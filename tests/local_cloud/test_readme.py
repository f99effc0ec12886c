"""The README's Order API demo, run as a newcomer runs it: `make serve`'s command in one process,
the `export` lines it prints and the README's bash block in another; what the block prints must
be what the README says it prints."""

from __future__ import annotations

import doctest
import os
import shutil
import socket
import subprocess
import sys
import time

import pytest
import urllib3

from tests.readme import blocks


def free_port() -> int:
    with socket.socket() as probe:  # free a moment ago
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.skipif(
    shutil.which("curl") is None or shutil.which("bash") is None,
    reason="the README's demo is a bash block of curl commands",
)
def test_the_readmes_api_demo_prints_what_the_readme_says() -> None:
    port = free_port()
    command = ["run", "--serve", "--orders", "0", "--port", str(port)]  # `make serve`'s
    serving = subprocess.Popen(
        [sys.executable, "-m", "local_cloud", *command],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert serving.stdout is not None
        printed: list[str] = []
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            line = serving.stdout.readline()
            if not line:
                break
            printed.append(line)
            if line.startswith("Requests are signed"):
                break
        exports = [line.strip() for line in printed if line.strip().startswith("export ")]
        assert len(exports) == 3, printed
        api = f"http://127.0.0.1:{port}/v1"
        assert exports[0].startswith(f"export API={api} VENDOR=http://127.0.0.1:"), exports
        assert "No orders (--orders 0)." in "".join(printed)
        unsigned = urllib3.request("GET", f"http://127.0.0.1:{port}/v1/orders/NOPE", timeout=5)
        assert unsigned.status == 403  # up where it says, and refusing an unsigned request

        (demo,) = blocks("The Order API by hand", "bash")
        (shown,) = blocks("The Order API by hand", "text")
        # The lines as pasted into a fresh terminal: nothing from this process's environment.
        pasted = subprocess.run(
            ["bash", "-c", "\n".join(exports) + "\n" + demo],
            capture_output=True,
            text=True,
            timeout=240,
            env={"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp")},
        )
    finally:
        serving.terminate()
        serving.wait(timeout=30)

    assert pasted.returncode == 0, pasted.stderr
    assert pasted.stderr == ""
    checker = doctest.OutputChecker()
    assert checker.check_output(shown, pasted.stdout, doctest.ELLIPSIS), checker.output_difference(
        doctest.Example("", shown), pasted.stdout, doctest.ELLIPSIS
    )

"""The in-process Lambda runtime keeps Lambda's isolation: an execution environment per
concurrent invocation, and each function's environment variables only for that function."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from local_cloud.lambda_runtime import FunctionLogSink, LocalFunction

HANDLER = """
import os, threading, time

CONFIGURED = os.environ["GREETING"]  # read at cold start, like the project's handlers
STATE = {"busy": False}


def handler(event, context):
    # module state that is only safe when one invocation at a time uses this module instance
    assert not STATE["busy"], "two invocations shared an execution environment"
    STATE["busy"] = True
    time.sleep(0.05)
    STATE["busy"] = False
    print(f"{CONFIGURED} {event['n']}")
    return {"greeting": CONFIGURED, "now": os.environ["GREETING"], "id": id(STATE)}
"""


def function(tmp_path: Path, name: str, greeting: str) -> LocalFunction:
    (tmp_path / "greeter.py").write_text(HANDLER)
    return LocalFunction(
        name=name,
        arn=f"arn:aws:lambda:us-east-1:123456789012:function:{name}",
        handler="greeter.handler",
        environment={"GREETING": greeting},
        timeout_seconds=5,
        memory_mb=128,
        code_dir=tmp_path,
        log_sink=FunctionLogSink(None),
    )


def test_concurrent_invocations_get_their_own_execution_environments(tmp_path: Path) -> None:
    hello = function(tmp_path, "hello", "hello")
    results: list[dict[str, object]] = []

    threads = [
        threading.Thread(target=lambda n=n: results.append(hello.invoke({"n": n})))
        for n in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(results) == 4
    assert hello.stats.errors == 0
    assert 2 <= hello.stats.cold_starts <= 4
    assert len({r["id"] for r in results}) == hello.stats.cold_starts
    assert sorted(hello.log_sink.lines) == [f"hello {n}" for n in range(4)]


def test_warm_invocations_reuse_the_environment(tmp_path: Path) -> None:
    hello = function(tmp_path, "hello", "hello")
    first = hello.invoke({"n": 1})
    second = hello.invoke({"n": 2})
    assert first["id"] == second["id"]
    assert hello.stats.cold_starts == 1


def test_each_function_sees_only_its_own_environment(tmp_path: Path) -> None:
    hello = function(tmp_path, "hello", "hello")
    bonjour = function(tmp_path, "bonjour", "bonjour")

    assert hello.invoke({"n": 1})["now"] == "hello"
    assert bonjour.invoke({"n": 1})["now"] == "bonjour"
    assert "GREETING" not in os.environ  # the process environment never changed


def test_a_failing_cold_start_is_an_invocation_error_in_the_log(tmp_path: Path) -> None:
    broken = function(tmp_path, "broken", "x")
    broken.environment = {}  # GREETING missing: the module raises at import

    with pytest.raises(KeyError):
        broken.invoke({"n": 1})
    assert broken.stats.errors == 1
    assert any("KeyError" in line for line in broken.log_sink.lines)

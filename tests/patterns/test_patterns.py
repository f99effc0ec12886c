"""Seed 001's patterns on the local cloud (`stacks/patterns_demo.py`): each state machine waits
for the same unit of simulated work through its own pattern, and ends with the worker's answer."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from local_cloud.cloud import LocalCloud
from local_cloud.run.synth import synthesise
from stacks.patterns_demo import PATTERNS, output_name


@pytest.fixture(scope="module")
def patterns_cloud() -> Iterator[LocalCloud]:
    with LocalCloud(synthesise(patterns=True)) as local:
        yield local
        # Every function's calls were checked against its role: none refused.
        assert local.iam is not None and local.iam.denials == []


def run(cloud: LocalCloud, pattern: str, work_seconds: float) -> tuple[dict[str, Any], list[Any]]:
    sfn = cloud.client("stepfunctions")
    arn = sfn.start_execution(
        stateMachineArn=cloud.output(output_name(pattern)),
        name=uuid.uuid4().hex,
        input=json.dumps({"work_seconds": work_seconds}),
    )["executionArn"]
    deadline = time.monotonic() + 30 + work_seconds
    while (found := sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
        assert time.monotonic() < deadline, f"{pattern} did not end"
        time.sleep(0.05)
    return found, sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]


@pytest.mark.parametrize("pattern", ["eventbridge_callback", "sqs_callback"])
def test_a_callback_pattern_waits_for_its_worker_and_ends_with_its_answer(
    patterns_cloud: LocalCloud, pattern: str
) -> None:
    started = time.monotonic()
    found, history = run(patterns_cloud, pattern, work_seconds=1)

    assert found["status"] == "SUCCEEDED", found
    assert json.loads(found["output"])["result"] == {"worked_seconds": 1}
    assert time.monotonic() - started >= 1  # it waited for the work
    entered = [e for e in history if e["type"].endswith("StateEntered")]
    assert len(entered) == 1  # one waiting task: the wait itself costs no transition


def test_the_job_poller_asks_until_the_job_is_done(patterns_cloud: LocalCloud) -> None:
    found, history = run(patterns_cloud, "job_poller", work_seconds=3)

    assert found["status"] == "SUCCEEDED", found
    assert json.loads(found["output"])["job"]["status"] == "DONE"
    polls = [
        e
        for e in history
        if e["type"] == "TaskStateEntered" and e["stateEnteredEventDetails"]["name"] == "AskJob"
    ]
    # Every 2 s for a 3 s job: at least twice, and each poll costs transitions of its own.
    assert len(polls) >= 2
    entered = [e for e in history if e["type"].endswith("StateEntered")]
    assert len(entered) > 4 * len(polls)


def test_every_pattern_of_the_stack_is_covered() -> None:
    assert set(PATTERNS) == {"eventbridge_callback", "sqs_callback", "job_poller"}

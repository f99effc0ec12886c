"""Seed 001's patterns on the local cloud (`stacks/patterns_demo.py`): each state machine waits
for the same unit of simulated work through its own pattern, and ends with the worker's answer."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from local_cloud.cloud import LocalCloud
from local_cloud.run.synth import synthesise
from stacks.patterns_demo import ACTIVITY_OUTPUT, PATTERNS, output_name
from workers.activity_worker import ActivityWorker


@pytest.fixture(scope="module")
def patterns_cloud() -> Iterator[LocalCloud]:
    with LocalCloud(synthesise(patterns=True)) as local:
        yield local
        # Every function's calls were checked against its role: none refused.
        assert local.iam is not None and local.iam.denials == []


@pytest.fixture(scope="module")
def back_office(patterns_cloud: LocalCloud) -> Iterator[ActivityWorker]:
    """The activity's worker, outside the cloud: it pulls work and heartbeats every second."""
    worker = ActivityWorker(
        client=patterns_cloud.client("stepfunctions"),
        activity_arn=patterns_cloud.output(ACTIVITY_OUTPUT),
        name="back-office-1",
        heartbeat_every=1,
    )
    serving = threading.Thread(target=worker.serve, daemon=True)
    serving.start()
    yield worker
    worker.stop()


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


def test_a_child_job_waits_for_the_childs_whole_run_in_one_transition(
    patterns_cloud: LocalCloud,
) -> None:
    started = time.monotonic()
    found, history = run(patterns_cloud, "child_job", work_seconds=1)

    assert found["status"] == "SUCCEEDED", found
    assert json.loads(found["output"])["result"] == {"Output": {"worked_seconds": 1}}
    assert time.monotonic() - started >= 1
    entered = [e for e in history if e["type"].endswith("StateEntered")]
    assert len(entered) == 1


def test_an_activity_step_waits_for_a_worker_that_pulls_the_work_and_heartbeats(
    patterns_cloud: LocalCloud, back_office: ActivityWorker
) -> None:
    served = back_office.served
    found, history = run(patterns_cloud, "activity", work_seconds=2)

    assert found["status"] == "SUCCEEDED", found
    assert json.loads(found["output"])["result"] == {"worked_seconds": 2}
    assert back_office.served == served + 1
    started = [e for e in history if e["type"] == "ActivityStarted"]
    assert [e["activityStartedEventDetails"]["workerName"] for e in started] == ["back-office-1"]
    entered = [e for e in history if e["type"].endswith("StateEntered")]
    assert len(entered) == 1


def test_every_pattern_of_the_stack_is_covered() -> None:
    assert set(PATTERNS) == {
        "eventbridge_callback",
        "sqs_callback",
        "job_poller",
        "child_job",
        "activity",
    }

"""``LocalCloud.state_machine_put_events_fault``: EventBridge refusing a state machine's
``PutEvents`` (as when it throttles the entry), shown on a minimal waiting task in moto. The
task fails with ``EventBridge.FailedEntry`` (what Step Functions' optimized EventBridge
integration names a non-zero ``FailedEntryCount``), which a ``Retry`` can recover from."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from local_cloud.cloud import LocalCloud
from local_cloud.runtime import moto_patches
from local_cloud.runtime.moto_patches import engine_clients
from tests.local_cloud.machines import waiting_task

REGION = "us-east-1"
ACCOUNT = "123456789012"


@pytest.fixture
def aws() -> Iterator[dict[str, Any]]:
    """moto with a rule sending ``test`` events to a queue (what the state machine's request
    reaches when EventBridge accepts it)."""
    moto_patches.apply()
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        sqs = boto3.client("sqs", region_name=REGION)
        events = boto3.client("events", region_name=REGION)
        queue = sqs.create_queue(QueueName="requests")["QueueUrl"]
        events.put_rule(Name="requests", EventPattern=json.dumps({"source": ["test"]}))
        events.put_targets(
            Rule="requests",
            Targets=[{"Id": "q", "Arn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:requests"}],
        )
        yield {
            "sqs": sqs,
            "events": events,
            "sfn": boto3.client("stepfunctions", region_name=REGION),
            "queue": queue,
        }


def heartbeat_task(retry: list[dict[str, Any]] | None = None) -> str:
    """The one waiting task, with a 30 s heartbeat (and ``retry``), as moto takes it."""
    return json.dumps(waiting_task(HeartbeatSeconds=30, **({"Retry": retry} if retry else {})))


def run(aws: dict[str, Any], definition: str) -> str:
    sfn = aws["sfn"]
    machine = sfn.create_state_machine(
        name=f"m-{time.monotonic_ns()}",
        definition=definition,
        roleArn=f"arn:aws:iam::{ACCOUNT}:role/r",
    )["stateMachineArn"]
    return str(sfn.start_execution(stateMachineArn=machine)["executionArn"])


def settled(aws: dict[str, Any], execution: str, timeout: float = 10) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    sfn = aws["sfn"]
    while (described := sfn.describe_execution(executionArn=execution))["status"] == "RUNNING":
        assert time.monotonic() < deadline, "the execution is still running"
        time.sleep(0.05)
    return dict(described)


def requests(aws: dict[str, Any], timeout: float) -> list[dict[str, Any]]:
    """The state machine's requests that reached the queue within ``timeout``."""
    found: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while not found and time.monotonic() < deadline:
        for message in (
            aws["sqs"]
            .receive_message(QueueUrl=aws["queue"], MaxNumberOfMessages=10)
            .get("Messages", [])
        ):
            found.append(json.loads(message["Body"]))
        time.sleep(0.05)
    return found


def test_a_refused_put_events_fails_the_task_with_eventbridge_failed_entry(
    aws: dict[str, Any],
) -> None:
    with LocalCloud.state_machine_put_events_fault(times=1) as refused:
        execution = run(aws, heartbeat_task())
        outcome = settled(aws, execution)

    assert (outcome["status"], outcome["error"]) == ("FAILED", "EventBridge.FailedEntry")
    assert "ThrottlingException" in outcome["cause"] and "Rate exceeded" in outcome["cause"]
    assert [entry["DetailType"] for entry in refused] == ["request"]
    assert requests(aws, timeout=0.5) == []  # nothing was put


def test_a_retry_on_the_failed_entry_recovers_the_task(aws: dict[str, Any]) -> None:
    retry = [{"ErrorEquals": ["EventBridge.FailedEntry"], "IntervalSeconds": 1, "MaxAttempts": 2}]
    with LocalCloud.state_machine_put_events_fault(times=1) as refused:
        execution = run(aws, heartbeat_task(retry))
        (request,) = requests(aws, timeout=10)  # the retry's, after 1 s
        aws["sfn"].send_task_success(taskToken=request["detail"]["token"], output='{"ok": 1}')
        outcome = settled(aws, execution)

    assert (outcome["status"], json.loads(outcome["output"])) == ("SUCCEEDED", {"ok": 1})
    assert len(refused) == 1
    history = aws["sfn"].get_execution_history(executionArn=execution)["events"]
    failures = [e["taskFailedEventDetails"] for e in history if e["type"] == "TaskFailed"]
    assert [f["error"] for f in failures] == ["EventBridge.FailedEntry"]


def test_only_state_machines_calls_are_refused(aws: dict[str, Any]) -> None:
    with LocalCloud.state_machine_put_events_fault(rate=1.0) as refused:
        answer = aws["events"].put_events(
            Entries=[{"Source": "test", "DetailType": "direct", "Detail": "{}"}]
        )

    assert answer["FailedEntryCount"] == 0
    assert refused == []
    assert [r["detail-type"] for r in requests(aws, timeout=5)] == ["direct"]


def test_a_seeded_rate_refuses_the_same_calls_each_run() -> None:
    def refusals(seed: int) -> list[bool]:
        outcomes = []
        with LocalCloud.state_machine_put_events_fault(rate=0.5, seed=seed):
            interceptor = engine_clients._put_events_interceptor
            assert interceptor is not None
            for n in range(40):
                outcomes.append(interceptor([{"DetailType": f"d{n}"}]) is not None)
        return outcomes

    first = refusals(7)
    assert first == refusals(7)
    assert 5 < sum(first) < 35
    assert engine_clients._put_events_interceptor is None  # gone with the block


def test_the_knob_needs_times_or_rate() -> None:
    with pytest.raises(ValueError), LocalCloud.state_machine_put_events_fault():
        pass

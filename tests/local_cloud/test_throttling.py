"""``local_cloud.runtime.throttling``: AWS's API quotas as token buckets, in moto alone. A call
over its bucket gets what AWS answers (HTTP 400 ``ThrottlingException``, ``Rate exceeded``), so
boto3 retries it, a state machine's ``events:putEvents`` task fails with
``EventBridge.ThrottlingException`` (which a ``Retry`` can name; moto said ``States.Runtime``,
which none can), and a Standard execution's states wait for transition tokens."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from moto import mock_aws

from local_cloud.runtime import moto_patches, throttling
from local_cloud.runtime.throttling import BucketSpec, Throttler, TokenBucket
from tests.local_cloud.machines import waiting_task

REGION = "us-east-1"
ACCOUNT = "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/r"
ENTRY = {"Source": "direct", "DetailType": "direct", "Detail": "{}"}  # no rule takes it
ONE_ATTEMPT = Config(retries={"total_max_attempts": 1})


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_bucket_gives_its_size_at_once_then_its_refill_rate() -> None:
    clock = Clock()
    bucket = TokenBucket(BucketSpec(size=2, refill_per_second=4), clock)

    assert [bucket.take() for _ in range(3)] == [True, True, False]
    clock.now = 0.25
    assert [bucket.take() for _ in range(2)] == [True, False]
    clock.now = 60  # a long pause refills it to its size, no more
    assert [bucket.take() for _ in range(3)] == [True, True, False]


def test_reserving_tokens_keeps_waiters_in_order() -> None:
    bucket = TokenBucket(BucketSpec(size=1, refill_per_second=10), Clock())

    assert [bucket.reserve() for _ in range(3)] == pytest.approx([0, 0.1, 0.2])


def test_a_scaled_bucket_keeps_at_least_one_token() -> None:
    assert BucketSpec(1_300, 300).scaled(1 / 50) == BucketSpec(26, 6)
    assert BucketSpec(10, 10).scaled(1 / 100) == BucketSpec(1, 0.1)
    with pytest.raises(ValueError, match="no such throttled API"):
        Throttler({"Invoke": BucketSpec(1, 1)}, machine_type=lambda arn: None)


@pytest.fixture
def aws() -> Iterator[dict[str, Any]]:
    """moto with a queue receiving the ``test`` events; the throttler a test installs is
    removed afterwards."""
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
        installed: list[Throttler] = []
        try:
            yield {
                "sqs": sqs,
                "events": events,
                "sfn": boto3.client("stepfunctions", region_name=REGION),
                "queue": queue,
                "installed": installed,
            }
        finally:
            for throttler in installed:
                throttling.uninstall(throttler)


def throttle(aws: dict[str, Any], **buckets: BucketSpec) -> Throttler:
    def machine_type(arn: str) -> str | None:
        for machine in aws["sfn"].list_state_machines()["stateMachines"]:
            if machine["stateMachineArn"] == arn:
                return str(machine["type"])
        return None

    throttler = Throttler(
        {getattr(throttling, name): spec for name, spec in buckets.items()},
        machine_type=machine_type,
    )
    throttling.install(throttler)
    aws["installed"].append(throttler)
    return throttler


def test_a_call_over_its_bucket_is_refused_as_aws_refuses_it(aws: dict[str, Any]) -> None:
    throttler = throttle(aws, PUT_EVENTS=BucketSpec(1, 0.001))
    events = boto3.client("events", region_name=REGION, config=ONE_ATTEMPT)

    assert events.put_events(Entries=[ENTRY])["FailedEntryCount"] == 0
    with pytest.raises(ClientError) as refused:
        events.put_events(Entries=[ENTRY])

    assert refused.value.response["Error"] == {
        "Code": "ThrottlingException",
        "Message": "Rate exceeded",
    }
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert (throttler.calls["PutEvents"], throttler.throttled["PutEvents"]) == (2, 1)


def test_boto3_retries_a_throttled_call_as_it_would_on_aws(aws: dict[str, Any]) -> None:
    throttler = throttle(aws, PUT_EVENTS=BucketSpec(1, 5))
    events = boto3.client("events", region_name=REGION)  # the SDK's default retries

    events.put_events(Entries=[ENTRY])
    answer = events.put_events(Entries=[ENTRY])

    assert answer["FailedEntryCount"] == 0
    assert answer["ResponseMetadata"]["RetryAttempts"] >= 1
    assert throttler.throttled["PutEvents"] == answer["ResponseMetadata"]["RetryAttempts"]


def _machine(aws: dict[str, Any], definition: dict[str, Any], kind: str = "STANDARD") -> str:
    return str(
        aws["sfn"].create_state_machine(
            name=f"m-{time.monotonic_ns()}",
            definition=json.dumps(definition),
            roleArn=ROLE,
            type=kind,
        )["stateMachineArn"]
    )


PASS = {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}


def test_standard_and_express_starts_draw_from_their_own_buckets(aws: dict[str, Any]) -> None:
    throttler = throttle(
        aws,
        START_EXECUTION_STANDARD=BucketSpec(1, 0.001),
        START_EXECUTION_EXPRESS=BucketSpec(3, 0.001),
    )
    standard, express = _machine(aws, PASS), _machine(aws, PASS, "EXPRESS")
    sfn = boto3.client("stepfunctions", region_name=REGION, config=ONE_ATTEMPT)

    def start(machine: str) -> None:
        sfn.start_execution(stateMachineArn=machine, name=f"e-{time.monotonic_ns()}")

    start(standard)
    for _ in range(3):
        start(express)
    for machine in (standard, express):
        with pytest.raises(ClientError, match="ThrottlingException"):
            start(machine)

    assert throttler.throttled == {
        "StartExecution (Standard)": 1,
        "StartExecution (Express)": 1,
    }


def put_events_task(retry: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return waiting_task(HeartbeatSeconds=30, **({"Retry": retry} if retry else {}))


def settled(aws: dict[str, Any], execution: str, timeout: float = 10) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while (found := aws["sfn"].describe_execution(executionArn=execution))["status"] == "RUNNING":
        assert time.monotonic() < deadline, "the execution is still running"
        time.sleep(0.05)
    return dict(found)


def request_token(aws: dict[str, Any], timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for message in aws["sqs"].receive_message(QueueUrl=aws["queue"]).get("Messages", []):
            return str(json.loads(message["Body"])["detail"]["token"])
        time.sleep(0.05)
    raise AssertionError("no request reached the queue")


def test_a_throttled_put_events_task_fails_with_an_error_its_retry_can_name(
    aws: dict[str, Any],
) -> None:
    throttle(aws, PUT_EVENTS=BucketSpec(1, 1))
    retry = [{"ErrorEquals": ["EventBridge.ThrottlingException"], "IntervalSeconds": 1}]
    machine = _machine(aws, put_events_task(retry))
    aws["events"].put_events(Entries=[ENTRY])  # the bucket's one token

    execution = aws["sfn"].start_execution(stateMachineArn=machine)["executionArn"]
    aws["sfn"].send_task_success(taskToken=request_token(aws, timeout=10), output='{"ok": 1}')

    assert settled(aws, execution)["status"] == "SUCCEEDED"
    history = aws["sfn"].get_execution_history(executionArn=execution)["events"]
    (failure,) = [e["taskFailedEventDetails"] for e in history if e["type"] == "TaskFailed"]
    assert failure["error"] == "EventBridge.ThrottlingException"
    assert failure["cause"].startswith("Rate exceeded (Service: EventBridge, Status Code: 400")


def test_without_a_retry_the_throttled_task_fails_with_that_error_not_a_runtime_one(
    aws: dict[str, Any],
) -> None:
    throttle(aws, PUT_EVENTS=BucketSpec(1, 0.001))
    machine = _machine(aws, put_events_task())
    aws["events"].put_events(Entries=[ENTRY])

    execution = aws["sfn"].start_execution(stateMachineArn=machine)["executionArn"]

    outcome = settled(aws, execution)
    assert (outcome["status"], outcome["error"]) == ("FAILED", "EventBridge.ThrottlingException")


def test_standard_transitions_wait_for_tokens_express_ones_do_not(aws: dict[str, Any]) -> None:
    throttler = throttle(aws, STATE_TRANSITION=BucketSpec(1, 10))
    states = {f"P{i}": {"Type": "Pass", "Next": f"P{i + 1}"} for i in range(4)}
    states["P4"] = {"Type": "Pass", "End": True}
    chain = {"StartAt": "P0", "States": states}

    started = time.monotonic()
    express = aws["sfn"].start_execution(stateMachineArn=_machine(aws, chain, "EXPRESS"))
    settled(aws, express["executionArn"])
    assert throttler.throttled[throttling.STATE_TRANSITION] == 0
    standard = aws["sfn"].start_execution(stateMachineArn=_machine(aws, chain))
    assert settled(aws, standard["executionArn"])["status"] == "SUCCEEDED"

    # Five states, one token at once, then ten a second: four waits, 0.4 s in all.
    assert throttler.calls["StateTransition (Standard)"] == 5
    assert throttler.calls["StateTransition (Express)"] == 5
    assert throttler.throttled[throttling.STATE_TRANSITION] == 4
    assert throttler.transition_wait_seconds == pytest.approx(0.4, abs=0.05)
    assert time.monotonic() - started >= 0.35

"""`bench.throughput`'s bare loop: the Step Functions engine's ceiling on this machine, the same
waiting tasks in moto answered by one loop thread, with no handlers (see `bench.throughput`)."""

from __future__ import annotations

import argparse
import json
import os
import queue
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.stepfunctions.parser.asl.eval.callback.callback import CallbackPoolManager

from bench.throughput_driver import Budget, Driver, Phase, drive, reference_order
from local_cloud.cloud import ACCOUNT, REGION
from local_cloud.runtime import moto_patches
from loyalty.naming import execution_arn_for, execution_name_for

WAIT_FOR_TOKEN = "arn:aws:states:::events:putEvents.waitForTaskToken"


def _task(next_state: str | None) -> dict[str, Any]:
    """A waiting task as the order machine has them (CDK's EventBridgePutEvents with
    WAIT_FOR_TASK_TOKEN, heartbeat 60 s, timeout 300 s, two retries on timeouts)."""
    task: dict[str, Any] = {
        "Type": "Task",
        "Resource": WAIT_FOR_TOKEN,
        "HeartbeatSeconds": 60,
        "TimeoutSeconds": 300,
        "ResultPath": None,
        "Retry": [
            {
                "ErrorEquals": ["States.HeartbeatTimeout", "States.Timeout"],
                "IntervalSeconds": 2,
                "MaxAttempts": 2,
                "BackoffRate": 2,
                "JitterStrategy": "FULL",
            }
        ],
        "Parameters": {
            "Entries": [
                {
                    "Detail": {
                        "order_reference.$": "$.order_reference",
                        "execution_id.$": "$$.Execution.Id",
                        "requested_at.$": "$$.State.EnteredTime",
                        "TaskToken.$": "$$.Task.Token",
                    },
                    "DetailType": "bench.step",
                    "EventBusName": f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/default",
                    "Source": "bench.bare-loop",
                }
            ]
        },
    }
    if next_state:
        task["Next"] = next_state
    else:
        task["End"] = True
    return task


def _redemptions(items: str, code: str) -> dict[str, Any]:
    return {
        "StartAt": f"Redeem-{items}",
        "States": {
            f"Redeem-{items}": {
                "Type": "Map",
                "ItemsPath": f"$.{items}",
                "MaxConcurrency": 10,
                "ItemSelector": {
                    f"{code}.$": f"$$.Map.Item.Value.{code}",
                    "order_reference.$": "$.order_reference",
                },
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "INLINE"},
                    "StartAt": f"Redeem-{code}",
                    "States": {f"Redeem-{code}": _task(None)},
                },
                "ResultPath": None,
                "End": True,
            }
        },
    }


def bare_definition() -> dict[str, Any]:
    """The order machine's waiting tasks in its shape: five steps, then points ‖ each voucher ‖
    each reward, then the completion."""
    steps = ["Recognise", "Validate", "Store", "ProportionDiscounts", "Transform"]
    states: dict[str, Any] = {
        name: _task(steps[i + 1] if i + 1 < len(steps) else "ApplyLoyalty")
        for i, name in enumerate(steps)
    }
    states["ApplyLoyalty"] = {
        "Type": "Parallel",
        "ResultPath": None,
        "Branches": [
            {"StartAt": "ApplyPoints", "States": {"ApplyPoints": _task(None)}},
            _redemptions("vouchers", "voucher_code"),
            _redemptions("rewards", "reward_code"),
        ],
        "Next": "Complete",
    }
    states["Complete"] = _task(None)
    return {"StartAt": steps[0], "States": states, "TimeoutSeconds": 691200}


@contextmanager
def issued_tokens() -> Iterator[queue.Queue[str]]:
    """Every task token the engine issues, as it issues it."""
    tokens: queue.Queue[str] = queue.Queue()
    original = CallbackPoolManager.add

    def add(self: CallbackPoolManager, callback_id: str) -> Any:
        endpoint = original(self, callback_id)
        tokens.put(callback_id)
        return endpoint

    CallbackPoolManager.add = add  # type: ignore[method-assign]
    try:
        yield tokens
    finally:
        CallbackPoolManager.add = original  # type: ignore[method-assign]


def _answer_loop(tokens: queue.Queue[str | None], sfn: Any) -> None:
    while (token := tokens.get()) is not None:
        try:
            sfn.send_task_success(taskToken=token, output="{}")
        except ClientError as err:  # e.g. the execution ended meanwhile: count nothing
            print(f"bare loop: {err}", file=sys.stderr)


def bare_loop_phases(
    args: argparse.Namespace, budget: Budget, concurrencies: list[int]
) -> list[Phase]:
    moto_patches.apply()
    saved = {k: os.environ.get(k) for k in ("AWS_DEFAULT_REGION", "AWS_REGION")}
    os.environ.update(AWS_DEFAULT_REGION=REGION, AWS_REGION=REGION)
    phases: list[Phase] = []
    config = Config(retries={"max_attempts": 1})
    try:
        with (
            mock_aws(config={"stepfunctions": {"execute_state_machine": True}}),
            issued_tokens() as tokens,
        ):
            sfn = boto3.client("stepfunctions", region_name=REGION, config=config)
            machine = sfn.create_state_machine(
                name="BareLoop",
                definition=json.dumps(bare_definition()),
                roleArn=f"arn:aws:iam::{ACCOUNT}:role/bench",
            )["stateMachineArn"]
            loop = threading.Thread(
                target=_answer_loop,
                args=(tokens, boto3.client("stepfunctions", region_name=REGION, config=config)),
                name="bare-loop",
                daemon=True,
            )
            loop.start()
            try:
                for concurrency in concurrencies:
                    run = f"B{concurrency}"
                    orders = [reference_order(run, i) for i in range(args.orders)]

                    def submit(i: int, orders: list[dict[str, Any]] = orders) -> str:
                        order = orders[i]
                        sfn.start_execution(
                            stateMachineArn=machine,
                            name=execution_name_for(order["order_reference"]),
                            input=json.dumps(order),
                        )
                        return str(order["order_reference"])

                    driver = Driver(
                        sfn=sfn,
                        state_machine_arn=machine,
                        submit=submit,
                        execution_arn=lambda reference: execution_arn_for(machine, reference),
                    )
                    phase = drive(
                        driver,
                        Phase("bare loop", concurrency, args.orders),
                        budget.next_deadline(),
                    )
                    phases.append(phase)
            finally:
                tokens.put(None)  # type: ignore[arg-type]
                loop.join(timeout=10)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return phases

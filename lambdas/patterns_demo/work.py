"""The patterns demo's simulated work (``stacks/patterns_demo.py``): one step that takes
``work_seconds``, done by whichever worker the pattern calls for. Every handler answers the step
the way its pattern does; none knows the others."""

from __future__ import annotations

import json
import time
from typing import Any

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from patterns_demo.models import Work

logger = Logger()
_sfn = boto3.client("stepfunctions")


def _do(work: Work) -> dict[str, Any]:
    time.sleep(work.work_seconds)
    return {"worked_seconds": work.work_seconds}


def _answer(work: Work) -> None:
    if work.task_token is None:
        raise ValueError("a callback's work carries its TaskToken")
    _sfn.send_task_success(taskToken=work.task_token, output=json.dumps(_do(work)))


@logger.inject_lambda_context
def on_event(event: dict[str, Any], context: LambdaContext) -> None:
    """EventBridge callback: the rule delivers the step's event; the worker answers the token."""
    _answer(Work.model_validate(event["detail"]))


@logger.inject_lambda_context
def on_messages(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """SQS callback: a batch of the step's messages; each answered on its own, a failed one
    reported for redelivery."""
    failures = []
    for record in event["Records"]:
        try:
            _answer(Work.model_validate_json(record["body"]))
        except Exception:
            logger.exception("work failed", extra={"message_id": record["messageId"]})
            failures.append({"itemIdentifier": record["messageId"]})
    return {"batchItemFailures": failures}


@logger.inject_lambda_context
def start_job(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Job poller, first step: start the job (here: note when it will be done) and return at
    once."""
    work = Work.model_validate(event)
    return {"status": "RUNNING", "due_at": time.time() + work.work_seconds}


@logger.inject_lambda_context
def job_status(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Job poller, each poll: how the job stands."""
    due_at = float(event["due_at"])
    return {"status": "DONE" if time.time() >= due_at else "RUNNING", "due_at": due_at}

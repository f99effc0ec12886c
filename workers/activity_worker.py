"""The activity pattern's worker: a process outside AWS's push (a store's back-office system) that
pulls work with ``GetActivityTask``, heartbeats while it works and answers with the token. Not a
Lambda handler, and not in the Lambda asset: ``stacks/patterns_demo.py`` grants a role for it,
and the bench and tests run it as a thread."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

from patterns_demo.models import Work


class ActivityWorker:
    """Serves ``activity_arn`` until ``stop()``: each task's input is a ``Work``; while it runs, a
    heartbeat goes every ``heartbeat_every`` seconds (shorter than the step's heartbeat), so a
    worker that dies is noticed and its task offered again."""

    def __init__(
        self,
        *,
        client: Any,
        activity_arn: str,
        name: str,
        heartbeat_every: float,
        work: Callable[[Work], dict[str, Any]] | None = None,
    ) -> None:
        self._client = client
        self._activity_arn = activity_arn
        self._name = name
        self._heartbeat_every = heartbeat_every
        self._work = work or _sleep
        self._stopping = threading.Event()
        self.served = 0

    def stop(self) -> None:
        self._stopping.set()

    def serve(self) -> None:
        while not self._stopping.is_set():
            task = self._client.get_activity_task(
                activityArn=self._activity_arn, workerName=self._name
            )
            token = task.get("taskToken")
            if token:  # a long poll that found nothing answers without one
                self._serve_one(token, task.get("input") or "{}")

    def _serve_one(self, token: str, raw: str) -> None:
        done = threading.Event()
        beating = threading.Thread(target=self._beat, args=(token, done), daemon=True)
        beating.start()
        try:
            output = self._work(Work.model_validate_json(raw))
        except Exception as err:  # the step fails with the worker's reason
            self._client.send_task_failure(
                taskToken=token, error=type(err).__name__, cause=str(err)[:1000]
            )
        else:
            self._client.send_task_success(taskToken=token, output=json.dumps(output))
            self.served += 1
        finally:
            done.set()
            beating.join()

    def _beat(self, token: str, done: threading.Event) -> None:
        while not done.wait(self._heartbeat_every):
            self._client.send_task_heartbeat(taskToken=token)


def _sleep(work: Work) -> dict[str, Any]:
    time.sleep(work.work_seconds)
    return {"worked_seconds": work.work_seconds}

"""The vendor's asynchronous jobs: an operation the profile makes asynchronous is checked and
accepted at once (``202 Accepted`` with a job id and a status URL, stored under its idempotency
key like any answer) and takes effect, or fails, when the job finishes. Plain logic, not
thread-safe: the vendor calls it under its lock.

A job finishes on the vendor's clock, whoever is looking: the vendor settles the jobs that are
due before it answers any request or shows its books, so the ledger says what a real vendor's
would at that moment, polled or not.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from fake_vendor.wire import Reply, error, json_reply, new_id

AsyncOperation = Literal["points", "voucher", "reward", "voucher_reversal", "reward_reversal"]
ASYNC_OPERATIONS: tuple[AsyncOperation, ...] = (
    "points",
    "voucher",
    "reward",
    "voucher_reversal",
    "reward_reversal",
)
OPERATION_OF_ROUTE: dict[str, AsyncOperation] = {
    "post_points": "points",
    "redeem_voucher": "voucher",
    "redeem_reward": "reward",
    "reverse_voucher": "voucher_reversal",
    "reverse_reward": "reward_reversal",
}
JOBS_PATH = "/v1/jobs/"

Fate = Literal["succeed", "fail", "stuck"]
JobStatus = Literal["pending", "succeeded", "failed"]


@dataclass
class Job:
    job_id: str
    operation: AsyncOperation
    effect: Callable[[], Reply]
    """The books' operation, run when the job is due (its answer is the job's result)."""
    due_at: float
    fate: Fate
    status: JobStatus = "pending"
    outcome: dict[str, Any] = field(default_factory=dict)
    """``result`` (the operation's answer) or ``error`` once finished."""

    def view(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id,
            "operation": self.operation,
            "status": self.status,
            **self.outcome,
        }


class JobBoard:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._jobs: dict[str, Job] = {}

    def clear(self) -> None:
        self._jobs.clear()

    def pending(self) -> int:
        return sum(job.status == "pending" for job in self._jobs.values())

    def submit(
        self, operation: AsyncOperation, effect: Callable[[], Reply], *, seconds: float, fate: Fate
    ) -> Reply:
        """Accept ``effect`` as a job that finishes ``seconds`` from now (a ``stuck`` one never
        does); the 202 names the job and where to ask about it."""
        job = Job(new_id("job"), operation, effect, self._clock() + seconds, fate)
        self._jobs[job.job_id] = job
        status_url = JOBS_PATH + job.job_id
        return json_reply(
            202,
            {"job_id": job.job_id, "status": job.status, "status_url": status_url},
            headers=(("Location", status_url),),
        )

    def settle_due(self) -> None:
        """Finish every job whose time has come, in the order they were due."""
        now = self._clock()
        due = [j for j in self._jobs.values() if j.status == "pending" and j.due_at <= now]
        for job in sorted(due, key=lambda j: j.due_at):
            if job.fate == "stuck":
                continue
            if job.fate == "fail":
                job.status = "failed"
                job.outcome = {"error": {"code": "job_failed", "message": "the job failed"}}
                continue
            answer = job.effect()
            body = json_body(answer)
            if 200 <= answer.status < 300:
                job.status, job.outcome = "succeeded", {"result": body}
            else:
                # The books said no when the job ran (a code redeemed meanwhile, too few points).
                job.status, job.outcome = "failed", {"error": body.get("error", {})}

    def status(self, job_id: str) -> Reply:
        job = self._jobs.get(job_id)
        if job is None:
            return error(404, "job_not_found", f"no job {job_id!r}")
        return json_reply(200, job.view())


def json_body(reply: Reply) -> dict[str, Any]:
    body = json.loads(reply.body) if reply.body else {}
    return body if isinstance(body, dict) else {}

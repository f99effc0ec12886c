"""Seed 001's patterns side by side on the local cloud (``stacks/patterns_demo.py``): each state
machine waits for the same unit of simulated work, ``--steps`` at once per pattern, and the table
gives what each step costs the orchestration: Standard state transitions and history events
(counted from the execution histories), the other billed requests it makes, dollars per million
steps at the list prices of ``bench/prices.py``, and the local latency.

    .venv/bin/python -m bench.patterns --steps 10 --work 5,60

The work itself (the worker's compute, wherever it runs) is the same for every pattern and is
left out of the dollars, and so is the activity worker's machine (its ``GetActivityTask`` long
polls are not billed by Step Functions); a poll's Lambda time is in (100 ms at 256 MB each, a
generous bill for a status read). The mediator's own job polling (the app's choice for the
vendor's 202 jobs) is not run here: its row prices the AWS calls ``bench.mediator --job-seconds``
counted per poll.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from bench import prices
from bench.figures import percentile
from local_cloud.cloud import LocalCloud
from local_cloud.run.synth import synthesise
from stacks.patterns_demo import ACTIVITY_OUTPUT, PATTERNS, POLL_INTERVAL, output_name
from workers.activity_worker import ActivityWorker

POLL_LAMBDA_GB_SECONDS = 0.1 * 256 / 1024
"""One status poll's Lambda bill: 100 ms at 256 MB."""
# One poll by the mediator, as `bench.mediator --requests 50 --job-seconds 60` counted its AWS
# calls on 2026-12-02 (106.66 per request with 12 polls, 7.46 without a job): the message's
# receive and change of visibility; the idempotency record's put and delete, the request
# state's and the circuit's reads, the state's, the quota's and the circuit's updates.
MEDIATOR_POLL_SQS_REQUESTS = 2
MEDIATOR_POLL_READ_UNITS = 2
MEDIATOR_POLL_WRITE_UNITS = 5.27
MEDIATOR_POLL_INVOCATIONS = 1
"""A delivery is an invocation at low load (a batch of up to five under a backlog)."""


@dataclass
class StepFigures:
    pattern: str
    work_seconds: float
    transitions: list[int]
    history_events: list[int]
    lambda_invocations: list[int]
    latencies: list[float]
    statuses: list[str]

    def mean(self, values: list[int]) -> float:
        return sum(values) / len(values)

    @property
    def other_requests(self) -> dict[str, float]:
        """Billed requests beside transitions and Lambda, per step."""
        if self.pattern == "eventbridge_callback":
            return {"events": 1}
        if self.pattern == "sqs_callback":
            return {"sqs": 3}  # send (the state machine), receive and delete (the poller)
        return {}

    def dollars_per_million(self) -> float:
        transitions = self.mean(self.transitions) * prices.STANDARD_PER_TRANSITION
        invocations = self.mean(self.lambda_invocations)
        lambda_cost = invocations * prices.LAMBDA_PER_REQUEST
        if self.pattern == "job_poller":
            lambda_cost += invocations * POLL_LAMBDA_GB_SECONDS * prices.LAMBDA_PER_GB_SECOND_ARM
        if self.pattern == "child_job":
            # The Express child: a request, and its duration at 64 MB in 100 ms increments.
            billed = math.ceil(self.work_seconds / prices.EXPRESS_BILLING_INCREMENT_S)
            lambda_cost += (
                prices.EXPRESS_PER_REQUEST
                + (billed * prices.EXPRESS_BILLING_INCREMENT_S * prices.EXPRESS_BILLED_GB)
                * prices.EXPRESS_PER_GB_SECOND
            )
        other = self.other_requests
        requests = other.get("events", 0) * prices.EVENTBRIDGE_PER_EVENT
        requests += other.get("sqs", 0) * prices.SQS_PER_REQUEST
        return 1_000_000 * (transitions + lambda_cost + requests)


def run_pattern(cloud: LocalCloud, pattern: str, work: int, steps: int) -> StepFigures:
    sfn = cloud.client("stepfunctions")
    machine = cloud.output(output_name(pattern))
    started = time.monotonic()

    def one(i: int) -> tuple[str, float, list[dict[str, Any]]]:
        arn = sfn.start_execution(
            stateMachineArn=machine,
            name=f"{work:g}s-{i}-{uuid.uuid4().hex[:8]}",
            input=json.dumps({"work_seconds": work}),
        )["executionArn"]
        begun = time.monotonic()
        deadline = begun + 120 + 3 * work
        while (found := sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
            if time.monotonic() > deadline:
                break
            time.sleep(0.1)
        latency = time.monotonic() - begun
        history = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
        return str(found["status"]), latency, history

    with ThreadPoolExecutor(max_workers=steps) as pool:
        results = list(pool.map(one, range(steps)))
    print(
        f"  {pattern}, {work:g} s of work: {steps} steps in {time.monotonic() - started:.1f} s",
        file=sys.stderr,
    )
    figures = StepFigures(pattern, work, [], [], [], [], [])
    for status, latency, history in results:
        figures.statuses.append(status)
        figures.latencies.append(latency)
        figures.history_events.append(len(history))
        figures.transitions.append(sum(e["type"].endswith("StateEntered") for e in history))
        scheduled = sum(e["type"] == "LambdaFunctionScheduled" for e in history)
        # A callback's worker is invoked by its rule or queue, not by the machine; a child job's
        # work is the child's (no Lambda).
        # (An activity's worker is not a Lambda: it runs in the back office.)
        callback = pattern in ("eventbridge_callback", "sqs_callback")
        figures.lambda_invocations.append(scheduled + (1 if callback else 0))
    return figures


def mediator_poll_row(work: float) -> str:
    """The app's choice for the vendor's jobs: the mediator polls, the token waits in SQS."""
    polls = max(1, round(work / 5))  # vendorJobPollSeconds' default: every 5 s
    dollars = (
        1_000_000
        * polls
        * (
            MEDIATOR_POLL_SQS_REQUESTS * prices.SQS_PER_REQUEST
            + MEDIATOR_POLL_READ_UNITS * prices.DYNAMODB_PER_READ_UNIT
            + MEDIATOR_POLL_WRITE_UNITS * prices.DYNAMODB_PER_WRITE_UNIT
            + MEDIATOR_POLL_INVOCATIONS * prices.LAMBDA_PER_REQUEST
            + POLL_LAMBDA_GB_SECONDS * prices.LAMBDA_PER_GB_SECOND_ARM
        )
    )
    return (
        f"| mediator polls (vendor jobs), from bench.mediator's counts | {work:g} | +0 | +0 | "
        f"{polls} polls | "
        f"+{dollars:,.2f} over the EventBridge callback | - | - |"
    )


def table(rows: list[StepFigures]) -> str:
    lines = [
        "| pattern | work s | transitions / step | history events / step | Lambda invocations "
        "/ step | $ per 1M steps | latency p50 / p99 s | ended |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        ended = ", ".join(f"{row.statuses.count(s)} {s}" for s in sorted(set(row.statuses)))
        lines.append(
            f"| {row.pattern} | {row.work_seconds:g} | {row.mean(row.transitions):.1f} | "
            f"{row.mean(row.history_events):.1f} | {row.mean(row.lambda_invocations):.1f} | "
            f"{row.dollars_per_million():,.2f} | "
            f"{percentile(row.latencies, 0.5):.2f} / {percentile(row.latencies, 0.99):.2f} | "
            f"{ended} |"
        )
    for work in sorted({row.work_seconds for row in rows}):
        lines.append(mediator_poll_row(work))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.patterns",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--steps", type=int, default=10, help="steps per pattern, run at once")
    parser.add_argument(
        "--work", default="5", help="whole seconds of simulated work per step, comma-separated"
    )
    args = parser.parse_args(argv)
    try:  # whole seconds: the child job's Wait takes an integer (SecondsPath), as on AWS
        works = [int(w) for w in args.work.split(",")]
    except ValueError:
        parser.error(f"--work takes whole seconds, comma-separated, not {args.work!r}")
    if args.steps < 1 or any(w < 0 or w > 600 for w in works):
        parser.error("--steps must be >= 1 and --work values 0..600")
    print(
        f"Patterns demo: {args.steps} steps per pattern, job polled every "
        f"{POLL_INTERVAL.to_seconds():g} s",
        file=sys.stderr,
    )
    rows: list[StepFigures] = []
    # As many async Lambda workers as steps: the local cloud's 8 would queue the rest.
    with LocalCloud(synthesise(patterns=True), workers=max(8, args.steps)) as cloud:
        # The activity's back office: a worker per step, heartbeating every 10 s (the step's
        # heartbeat is 30 s, so 60 s of work needs them).
        back_office = [
            ActivityWorker(
                client=cloud.client("stepfunctions"),
                activity_arn=cloud.output(ACTIVITY_OUTPUT),
                name=f"back-office-{i}",
                heartbeat_every=10,
            )
            for i in range(args.steps)
        ]
        for worker in back_office:
            threading.Thread(target=worker.serve, daemon=True).start()
        for work in works:
            rows.extend(run_pattern(cloud, pattern, work, args.steps) for pattern in PATTERNS)
        for worker in back_office:
            worker.stop()
    print(table(rows))
    print(f"\nprices as of {prices.PRICES_AS_OF} ({prices.REGION}); the work itself left out")
    failed = [r for r in rows if set(r.statuses) != {"SUCCEEDED"}]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

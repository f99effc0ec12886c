"""A fault scenario: a batch of generated orders run through the local cloud with a fault active,
then the invariants every scenario shares: every order ended (no execution still running), and
the per-item truth check (`local_cloud.run.truth_check`) finds no item whose record or last event
disagrees with the vendor's ledger, and no effect applied twice or unaccounted for.

``FAULT_ORDERS`` sets the batch (`make faults`: 500; `make test`: 20). Each scenario
adds its figures to the summary pytest prints at the end.
"""

from __future__ import annotations

import contextlib
import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fake_vendor import FakeVendor, FaultProfile
from local_cloud.cloud import LocalCloud
from local_cloud.run.order_mix import generate_orders, seed_vendor_for
from local_cloud.run.run_report import check_ledger, truth_of
from local_cloud.run.runner import RunResult, run_orders
from local_cloud.run.sample_orders import SampleOrder
from local_cloud.run.truth_check import TruthCheck
from loyalty.order_status import RERUNNABLE_STATUSES
from tests.faults.conftest import report_figures

ORDERS = int(os.environ.get("FAULT_ORDERS", "20"))
RUN_TIMEOUT = 120 + ORDERS
"""Seconds for a batch to end: about 0.6 s per order on two cores, more for a scenario late in a
module (its cloud has run the earlier ones)."""
SCENARIO_TIMEOUT = 300 + 2 * ORDERS
"""pytest's limit for one scenario (the run itself gives up sooner)."""
MIX = "sale=4,vouchers=3,return=2,approve=1,reject=1,invalid=1,unknown-voucher=1"


@dataclass
class Ran:
    samples: list[SampleOrder]
    result: RunResult
    truth: TruthCheck
    statuses: Counter[str]

    @property
    def unexpected(self) -> list[tuple[str, str, str | None, str | None]]:
        """Orders that did not end as their kind should: reference, status, error, cause."""
        return [
            (s.reference, o.status, o.error, o.cause)
            for s in self.samples
            if not self.result.as_expected(s)
            for o in [self.result.outcomes[s.reference]]
        ]


def run_scenario(
    name: str,
    cloud: LocalCloud,
    vendor: FakeVendor,
    *,
    seed: int,
    faults: FaultProfile | None = None,
    during: Callable[[], contextlib.AbstractContextManager[Any]] = contextlib.nullcontext,
) -> Ran:
    """Run ``ORDERS`` generated orders with ``faults`` at the vendor and ``during`` around the
    run, then check the invariants every scenario shares."""
    samples = generate_orders(ORDERS, MIX, seed=seed)
    seed_vendor_for(vendor, samples)
    vendor.faults = faults or FaultProfile()
    with during():
        result = run_orders(cloud, cloud.api(), samples, timeout=RUN_TIMEOUT)
        assert cloud.wait_idle(timeout=120), cloud.in_flight()
    truth = truth_of(cloud, vendor, samples)
    statuses = Counter(result.outcomes[s.reference].status for s in samples)
    report_figures(
        name,
        f"{len(samples)} orders ({', '.join(f'{n} {s}' for s, n in sorted(statuses.items()))}); "
        f"{truth.items} items checked, {truth.unknown} unknown "
        f"({truth.unknown_applied} of them applied at the vendor), "
        f"{len(truth.disagreements)} record≠vendor; "
        f"vendor faults {dict(sorted(vendor.stats().faults_injected.items()))}; "
        f"parked for reconciliation {cloud.reconciliation_backlog()}",
    )
    # The invariants: every order ended, and every item's record is what the vendor did.
    assert result.pending == [], result.pending[:5]
    assert truth.disagreements == [], truth.disagreements[:5]
    ran = Ran(samples, result, truth, statuses)
    rerun_what_the_fault_failed(name, cloud, vendor, ran)
    return ran


RERUN_ROUNDS = 2
"""A COMPENSATION_FAILED order's first re-run finishes its reversals (FAILED, net zero); the
second runs it again."""


def rerun_what_the_fault_failed(name: str, cloud: LocalCloud, vendor: FakeVendor, ran: Ran) -> None:
    """Once the fault is gone, an operator re-runs every order it failed (``POST
    .../actions/retry``; the run decides again any approval a re-run asks for): each must end as
    its kind should (a sale COMPLETED, a rejected one REJECTED), the vendor's ledger must be
    exactly what each asks for, and no item's record may disagree with the vendor. Orders that
    ended as they should, or wait for reconciliation, are left as they are."""
    vendor.faults = FaultProfile()
    api = cloud.api("reviewer")  # an operator re-runs
    latest = RunResult(outcomes=dict(ran.result.outcomes))  # each order's latest run
    outcomes, as_expected = latest.outcomes, latest.as_expected

    def retry(sample: SampleOrder) -> None:
        answer = api.retry(sample.reference, comment=f"after {name}: the fault is gone")
        assert answer.status == 202, (sample.reference, answer.status, answer.body)

    rerun: dict[str, SampleOrder] = {}
    for _ in range(RERUN_ROUNDS):
        failed = [
            s
            for s in ran.samples
            if outcomes[s.reference].status in RERUNNABLE_STATUSES and not as_expected(s)
        ]
        if not failed:
            break
        result = run_orders(cloud, api, failed, timeout=60 + len(failed) * 0.6, start=retry)
        assert result.pending == [], result.pending[:5]
        outcomes.update(result.outcomes)
        rerun.update((s.reference, s) for s in failed)
    if not rerun:
        return
    assert cloud.wait_idle(timeout=60), cloud.in_flight()

    truth = truth_of(cloud, vendor, ran.samples)  # the whole batch: the others' effects too
    ledger = check_ledger(cloud, vendor, list(rerun.values()), outcomes)
    mismatches = [m for m in ledger.mismatches if m["order_reference"] in rerun]
    statuses = Counter(outcomes[r].status for r in rerun)
    report_figures(
        f"{name}, then re-run",
        f"{len(rerun)} orders the fault failed re-run by an operator "
        f"({', '.join(f'{n} {s}' for s, n in sorted(statuses.items()))}); "
        f"{len(truth.disagreements)} record≠vendor; {len(mismatches)} ledger mismatches",
    )
    unexpected = [
        (r, outcomes[r].status, outcomes[r].error) for r, s in rerun.items() if not as_expected(s)
    ]
    assert unexpected == []
    assert truth.disagreements == [], truth.disagreements[:5]
    assert mismatches == []

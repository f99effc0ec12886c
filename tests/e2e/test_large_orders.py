"""An order far beyond Step Functions' 256 KB limit: more than 1 MB of lines and 500 vouchers,
submitted over the API, through the whole flow by claim check."""

from __future__ import annotations

import json
from collections.abc import Callable

from fake_vendor import FakeVendor
from local_cloud.cloud import LocalCloud
from loyalty.contract import MAX_REWARDS, MAX_VOUCHERS
from tests.e2e.conftest import CUSTOMER, sale

LINES = 9_000
VOUCHERS = 500
HISTORY_LIMIT = 25_000


def test_a_one_megabyte_order_with_500_vouchers_completes_by_claim_check(
    cloud: LocalCloud, vendor: FakeVendor, new_reference: Callable[[str], str]
) -> None:
    vendor.reset()
    vendor.add_account(CUSTOMER, balance=0)
    codes = [f"BULK-{i:04d}" for i in range(VOUCHERS)]
    for code in codes:
        vendor.add_voucher(code)
    reference = new_reference("HUGE")
    order = sale(
        reference,
        lines=[
            {
                "sku": f"SKU-{i:06d}",
                "quantity": 1,
                "unit_price": "1.00",
                "description": "a brick " * 10,
            }
            for i in range(LINES)
        ],
        vouchers=[{"voucher_code": code} for code in codes],
    )
    assert len(json.dumps(order)) > 1_000_000

    accepted = cloud.api(timeout=60).submit(order)
    assert accepted.status == 202, accepted.body
    # About 30 s on two cores; the bound is generous for a slower, busier CI machine, and the
    # failure message says where the order stands.
    outcome = cloud.wait_for_order(reference, timeout=420)

    assert (outcome.status, outcome.execution_status) == ("COMPLETED", "SUCCEEDED"), (
        cloud.stall_report(reference)
    )
    assert [(e.operation, e.points) for e in vendor.ledger()] == [("credit", LINES)], (
        vendor.ledger()
    )
    assert sorted(r.code for r in vendor.redemptions()) == codes
    assert sum(item["status"] == "SUBMITTED" for item in outcome.items.values()) == VOUCHERS + 1

    # the order itself never entered the state machine: only its claim check did
    sfn = cloud.client("stepfunctions")
    execution = sfn.describe_execution(executionArn=cloud.execution_arn(reference))
    assert len(execution["input"]) < 2_000
    assert json.loads(execution["input"])["order"]["claim_check"]["bytes"] > 1_000_000

    # the history this order used, extrapolated to the largest order the model accepts
    events = len(cloud.execution_history(execution["executionArn"]))
    per_item = events / VOUCHERS  # includes the fixed part of the flow: an overestimate
    assert per_item * (MAX_VOUCHERS + MAX_REWARDS) < HISTORY_LIMIT, (events, per_item)

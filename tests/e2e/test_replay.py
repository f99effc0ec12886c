"""The README's replay procedure: orders whose ``order.received`` found no starter (the rule was
disabled, as during a bad deployment) are re-driven from the archive through the starter's rule
alone; orders that were processed are not processed again."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from fake_vendor import FakeVendor
from local_cloud.cloud import ACCOUNT, REGION, LocalCloud
from tests.e2e.conftest import CUSTOMER, sale


def test_a_replay_filtered_to_the_starter_rule_recovers_lost_orders_only(
    cloud: LocalCloud, vendor: FakeVendor, new_reference: Callable[[str], str]
) -> None:
    vendor.reset()
    vendor.add_account(CUSTOMER, balance=0)
    events = cloud.client("events")
    rule_arn = cloud.output("OrdersReceivedRuleArn")
    window_start = datetime.now(UTC) - timedelta(seconds=5)

    processed = new_reference("PROCESSED")
    cloud.submit_order(sale(processed))
    assert cloud.wait_for_order(processed).status == "COMPLETED"

    lost = new_reference("LOST")
    events.disable_rule(Name=rule_arn.rsplit("/", 1)[-1])
    try:
        cloud.submit_order(sale(lost))
        time.sleep(1)
        assert cloud.order_outcome(lost).status == "NOT_STARTED"
    finally:
        events.enable_rule(Name=rule_arn.rsplit("/", 1)[-1])
    ledger_before = len(vendor.ledger())
    elsewhere = cloud.tap({"replay-name": [{"exists": True}]})  # any rule but the starter's

    events.start_replay(
        ReplayName=f"recover-{lost.lower()}",
        EventSourceArn=cloud.output("EventArchiveArn"),
        EventStartTime=window_start,
        EventEndTime=datetime.now(UTC) + timedelta(seconds=1),
        Destination={
            "Arn": f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/default",
            "FilterArns": [rule_arn],
        },
    )

    recovered = cloud.wait_for_order(lost)
    assert (recovered.status, recovered.execution_status) == ("COMPLETED", "SUCCEEDED")
    cloud.wait_idle(timeout=10)
    # Only the starter's rule saw replayed events: not the processed order's step requests,
    # vendor requests or answers (harmless as they are, being idempotent, they are noise).
    assert elsewhere.events() == []
    # One new points operation (the lost order's): the processed order's order.received was
    # replayed too, found its execution name taken, and was ignored.
    ledger = vendor.ledger()
    assert len(ledger) == ledger_before + 1
    assert [e.order_reference for e in ledger].count(processed) == 1
    assert [e.order_reference for e in ledger].count(lost) == 1
    assert cloud.order_outcome(processed).status == "COMPLETED"

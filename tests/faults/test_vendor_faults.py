"""Every vendor failure mode of issue #4, end to end on the local cloud, through the real
mediator code against the fake vendor on 127.0.0.1. Each asserts the order's final state, the
vendor ledger (nothing applied twice, nothing missing) and that nothing is left in flight."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

from fake_vendor import FakeVendor, FaultProfile
from local_cloud.cloud import LocalCloud
from loyalty import contract
from tests.faults.conftest import FAST_MEDIATOR, assert_settled, effects_of
from tests.sample_events import load_event

Order = Callable[..., dict[str, Any]]


def heal_after(vendor: FakeVendor, fault: str, count: int) -> threading.Thread:
    """Make the vendor healthy once it has injected ``count`` faults of kind ``fault``."""

    def watch() -> None:
        deadline = time.monotonic() + 30
        while vendor.stats().faults_injected.get(fault, 0) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        vendor.faults = FaultProfile()

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


class MediatorLog:
    """The mediator's log messages from now on."""

    def __init__(self, cloud: LocalCloud) -> None:
        self._lines = cloud.function("Mediator").log_sink.lines
        self._start = len(self._lines)

    def messages(self) -> list[str]:
        return [
            json.loads(line).get("message", "")
            for line in self._lines[self._start :]
            if line.startswith("{")
        ]


def test_a_burst_of_5xx_then_recovery_completes_the_order_with_effects_applied_once(
    cloud: LocalCloud, vendor: FakeVendor, order: Order
) -> None:
    vendor.faults = FaultProfile(error_rate=1.0)
    sale = order()
    heal_after(vendor, "error", 3)

    cloud.submit_order(sale)
    outcome = cloud.wait_for_order(sale["order_reference"], timeout=30)

    assert outcome.status == "COMPLETED"
    assert effects_of(vendor, sale["order_reference"]) == ([25], ["V-1"])
    assert (
        vendor.stats().faults_injected["error"] >= 3
    )  # healed after the third (or a concurrent fourth)
    assert_settled(cloud, outcome)


def test_sustained_429s_slow_everyone_down_and_every_order_completes(
    cloud: LocalCloud, vendor: FakeVendor, order: Order
) -> None:
    # the vendor throttles half the calls and lets through at most 4 a second, while our
    # configured quota (50/s) is too generous
    vendor.faults = FaultProfile(
        throttle_rate=0.5, rate_limit_rps=4, retry_after_seconds=0.3, seed=20261123
    )
    orders = [order(vouchers=[{"voucher_code": f"V-{i}"}]) for i in range(1, 5)]

    for sale in orders:
        cloud.submit_order(sale)
    outcomes = [cloud.wait_for_order(s["order_reference"], timeout=60) for s in orders]

    assert [o.status for o in outcomes] == ["COMPLETED"] * 4, outcomes
    assert vendor.stats().by_status.get(429, 0) > 0
    for i, sale in enumerate(orders, start=1):
        assert effects_of(vendor, sale["order_reference"]) == ([25], [f"V-{i}"])
    assert_settled(cloud, *outcomes)


def test_read_timeouts_are_retried_with_the_same_key_so_nothing_is_applied_twice(
    cloud: LocalCloud, vendor: FakeVendor, order: Order
) -> None:
    # the vendor applies each call, then hangs past the read timeout
    hang = float(FAST_MEDIATOR["loyalty:vendorReadTimeoutSeconds"]) + 0.5
    vendor.faults = FaultProfile(timeout_rate=1.0, timeout_sleep_seconds=hang)
    sale = order()
    heal_after(vendor, "timeout", 2)

    cloud.submit_order(sale)
    outcome = cloud.wait_for_order(sale["order_reference"], timeout=30)

    assert outcome.status == "COMPLETED"
    assert effects_of(vendor, sale["order_reference"]) == ([25], ["V-1"])
    assert vendor.stats().idempotent_replays >= 1
    assert_settled(cloud, outcome)


def test_an_outage_shorter_than_the_deadline_is_waited_out(
    cloud: LocalCloud, vendor: FakeVendor, order: Order
) -> None:
    vendor.faults = FaultProfile.from_dict({"outages": [[0, 2.5]]})
    sale = order()

    cloud.submit_order(sale)
    outcome = cloud.wait_for_order(sale["order_reference"], timeout=30)

    assert outcome.status == "COMPLETED"
    assert effects_of(vendor, sale["order_reference"]) == ([25], ["V-1"])
    assert_settled(cloud, outcome)


def test_an_outage_longer_than_the_deadline_fails_the_order_with_vendor_unavailable(
    cloud: LocalCloud, vendor: FakeVendor, order: Order
) -> None:
    vendor.faults = FaultProfile.from_dict({"outages": [[0, 60]]})
    sale = order()

    cloud.submit_order(sale)
    outcome = cloud.wait_for_order(sale["order_reference"], timeout=30)

    assert (outcome.status, outcome.error) == ("FAILED", "VendorUnavailable")
    assert "deadline" in (outcome.cause or "")
    assert effects_of(vendor, sale["order_reference"]) == ([], [])
    assert_settled(cloud, outcome)


def test_the_circuit_opens_then_half_opens_and_closes_when_the_vendor_recovers(
    cloud: LocalCloud, vendor: FakeVendor, order: Order
) -> None:
    log = MediatorLog(cloud)
    vendor.faults = FaultProfile(error_rate=1.0)
    sale = order(vouchers=[{"voucher_code": "V-1"}, {"voucher_code": "V-2"}])
    cloud.submit_order(sale)

    deadline = time.monotonic() + 10
    while "circuit opened" not in log.messages() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert "circuit opened" in log.messages()
    time.sleep(0.2)  # a call that had its permit before the circuit opened may still land
    calls_while_open = vendor.stats().requests_total
    time.sleep(0.5)  # ... but within the 1 s cool-down no new call reaches the vendor
    assert vendor.stats().requests_total == calls_while_open
    vendor.faults = FaultProfile()

    outcome = cloud.wait_for_order(sale["order_reference"], timeout=30)

    messages = log.messages()
    opened = messages.index("circuit opened")
    probing = messages.index("circuit half-open: probing the vendor", opened)
    assert messages.index("circuit closed", probing) > probing
    assert outcome.status == "COMPLETED"
    assert effects_of(vendor, sale["order_reference"]) == ([25], ["V-1", "V-2"])
    assert_settled(cloud, outcome)


def test_a_duplicate_delivery_of_a_request_is_applied_and_answered_once(
    cloud: LocalCloud, vendor: FakeVendor, order: Order
) -> None:
    requests = cloud.tap(contract.vendor_request_pattern())
    answers = cloud.tap(contract.vendor_answer_pattern())
    vendor.faults = FaultProfile(latency_ms=300)  # keep the first delivery in flight a while
    sale = order()
    cloud.submit_order(sale)

    deadline = time.monotonic() + 10
    while len(requests.events()) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    sqs = cloud.client("sqs")
    queue = cloud.output("RequestsQueueUrl")
    for request in requests.events():  # EventBridge delivered each request twice more
        for _ in range(2):
            sqs.send_message(QueueUrl=queue, MessageBody=json.dumps(request))
    outcome = cloud.wait_for_order(sale["order_reference"], timeout=30)
    assert_settled(cloud, outcome)

    assert outcome.status == "COMPLETED"
    assert effects_of(vendor, sale["order_reference"]) == ([25], ["V-1"])
    tokens = [a["detail"]["data"]["loyalty_request_id"] for a in answers.events()]
    assert len(tokens) == 2 == len(set(tokens))  # one answer per request, none repeated


def test_a_malformed_request_goes_to_the_dead_letter_queue_and_is_not_answered(
    cloud: LocalCloud, vendor: FakeVendor
) -> None:
    answers = cloud.tap(contract.vendor_answer_pattern())
    request = load_event("seed000_step1_voucher_request")
    del request["detail"]["data"]["merchant_reference"]

    cloud.put_events(
        {
            "source": request["source"],
            "detail_type": request["detail-type"],
            "detail": request["detail"],
        }
    )
    assert cloud.wait_idle(timeout=30)

    dead = cloud.dead_letters()
    assert list(dead) == [next(k for k in dead if k.startswith("RequestsDeadLetterQueue"))]
    (parked,) = next(iter(dead.values()))
    assert parked["detail"] == request["detail"]
    assert answers.events() == []
    assert vendor.stats().requests_total == 0
    assert not any(cloud.buffered_messages().values())

"""Task tokens are not bearer credentials: none is kept where a reader could take it (the event
log, the archive, and, for the approval step, the bus itself), and an answer with a real token
from any source but the one allowed to answer changes nothing.

Which principals may put events *as* the order process or the Vendor Mediator is IAM's part
(``events:source`` on every grant): moto does not evaluate conditions, so that is checked on the
synthesised policies (``tests/infrastructure/test_event_permissions.py``). Here the forger uses
every other source.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from fake_vendor import FakeVendor, FaultProfile
from local_cloud.cloud import LocalCloud
from loyalty import contract
from loyalty.contract import Source
from tests.e2e.conftest import CUSTOMER, sale

FORGERS = ("anyone", Source.ORDER_INTAKE.value)
"""Sources a principal with any PutEvents grant could use (the Order API's is ORDER_INTAKE)."""


def _of_order(reference: str) -> Callable[[dict[str, Any]], bool]:
    return lambda event: event.get("detail", {}).get("order_reference") == reference


def _put(cloud: LocalCloud, source: str, detail_type: str, detail: dict[str, Any]) -> None:
    cloud.put_events({"source": source, "detail_type": detail_type, "detail": detail})


def _approval_tokens(cloud: LocalCloud, reference: str) -> list[str]:
    """The approval step's tokens, read where the function keeps them (the actions table)."""
    dynamodb = cloud.client("dynamodb")
    tokens = []
    for table in dynamodb.list_tables()["TableNames"]:
        for item in dynamodb.scan(TableName=table)["Items"]:
            if reference in json.dumps(item) and "task_token" in item:
                tokens.append(item["task_token"]["S"])
    return tokens


def test_no_task_token_is_kept_in_the_event_log_or_the_archive_nor_the_approvals_on_the_bus(
    cloud: LocalCloud, vendor: FakeVendor, new_reference: Callable[[str], str]
) -> None:
    vendor.reset()
    vendor.add_account(CUSTOMER, balance=5_000)
    vendor.add_voucher("V-LOG")
    everything = cloud.tap({"source": [source.value for source in Source]})
    sale_reference = new_reference("TOKENS-SALE")
    cloud.submit_order(sale(sale_reference, vouchers=[{"voucher_code": "V-LOG"}]))
    # A high-value return waits for a person: its token goes to the actions table, not the bus.
    return_reference = new_reference("TOKENS-RETURN")
    client, reviewer = cloud.api("client"), cloud.api("reviewer")
    big_return = sale(
        return_reference,
        order_type="return",
        original_order_reference="SALE-9",
        lines=[{"sku": "LEGO-10294", "quantity": 1, "unit_price": "679.99"}],
    )
    assert client.submit(big_return).status == 202
    assert cloud.wait_for_order(sale_reference).status == "COMPLETED"
    # The return reaches its approval step in its own time (seconds on a busy machine).
    approval_tokens = []
    deadline = time.monotonic() + 60
    while not approval_tokens and time.monotonic() < deadline:
        cloud.wait_idle(timeout=0.05)
        approval_tokens = _approval_tokens(cloud, return_reference)
    assert approval_tokens, cloud.order_outcome(return_reference)
    decided = reviewer.call(
        "POST", f"/orders/{return_reference}/actions/approval", {"decision": "approve"}
    )
    assert decided.status == 200, decided.body
    assert cloud.wait_for_order(return_reference).status == "COMPLETED"
    assert cloud.wait_idle(timeout=10)

    seen = everything.events()
    tokens = {
        e["detail"][contract.TASK_TOKEN_FIELD]
        for e in seen
        if contract.TASK_TOKEN_FIELD in e["detail"]
    }
    tokens |= {
        e["detail"]["data"][contract.VENDOR_TOKEN_FIELD]
        for e in seen
        if contract.VENDOR_TOKEN_FIELD in e["detail"].get("data", {})
    }
    assert len(tokens) >= 10  # every step of two orders, and the vendor's requests
    assert len(approval_tokens) == 1
    on_the_bus = json.dumps(seen)
    assert approval_tokens[0] not in on_the_bus
    log = "\n".join(message for _, message in cloud.event_log())
    archive = json.dumps(cloud.archived_events())
    for token in (*tokens, *approval_tokens):
        assert token not in log
        assert token not in archive
    # The log still shows every step of the order, one summary line each.
    timeline = [f"{e.detail_type} {e.what}" for e in cloud.timeline(sale_reference)]
    assert "order.store order.store requested" in timeline
    assert "event voucher submitted" in timeline
    assert any(line.startswith("order.completed") for line in timeline)


def test_a_forged_worker_answer_from_any_other_source_changes_nothing(
    cloud: LocalCloud, vendor: FakeVendor, new_reference: Callable[[str], str]
) -> None:
    vendor.reset()
    vendor.add_account(CUSTOMER, balance=0)
    reference = new_reference("SPOOFED-STEP")
    requests = cloud.tap(contract.order_step_pattern(contract.OrderStep.VALIDATE))
    # The validation worker stalls, so its step waits while the forger answers it.
    with cloud.function_fault(
        "ValidateOrderWorker", times=1, stall_seconds=2.0, when=_of_order(reference)
    ):
        cloud.submit_order(sale(reference))
        (request,) = requests.wait_for(lambda e: e["detail"]["order_reference"] == reference)
        token = request["detail"][contract.TASK_TOKEN_FIELD]
        for source in FORGERS:
            _put(
                cloud,
                source,
                contract.TaskAnswer.FAILED.value,
                {contract.TASK_TOKEN_FIELD: token, "error": "Forged", "cause": "forged"},
            )
            _put(
                cloud,
                source,
                contract.TaskAnswer.FINISHED.value,
                {contract.TASK_TOKEN_FIELD: token, "result": {"forged": True}},
            )
        outcome = cloud.wait_for_order(reference, timeout=30)

    # It ended as it would have: the worker's own answer resumed the step.
    assert (outcome.status, outcome.execution_status) == ("COMPLETED", "SUCCEEDED")
    history = json.dumps(cloud.execution_history(cloud.execution_arn(reference)), default=str)
    assert "forged" not in history.lower()
    assert [e.points for e in vendor.ledger() if e.order_reference == reference] == [99]


def test_a_forged_vendor_answer_during_an_outage_changes_nothing(
    cloud: LocalCloud, vendor: FakeVendor, new_reference: Callable[[str], str]
) -> None:
    vendor.reset()
    vendor.add_account(CUSTOMER, balance=0)
    vendor.add_voucher("V-SPOOF")
    reference = new_reference("SPOOFED-VENDOR")
    requests = cloud.tap(contract.vendor_request_pattern())
    vendor.faults = FaultProfile.from_dict({"outages": [[0, 2.5]]})
    try:
        cloud.submit_order(sale(reference, vouchers=[{"voucher_code": "V-SPOOF"}]))
        asked: list[dict[str, Any]] = []
        deadline = time.monotonic() + 10
        while len(asked) < 2 and time.monotonic() < deadline:  # the points and the voucher
            asked = requests.wait_for(
                lambda e: e["detail"]["data"]["loyalty_order_reference"] == reference
            )
        assert len(asked) == 2, asked
        for request in asked:
            submitted = json.loads(json.dumps(request["detail"]))
            submitted["metadata"].update(service=Source.VENDOR_MEDIATOR.value, status="submitted")
            submitted["data"]["vendor_references"] = ["FORGED-1"]
            refused = json.loads(json.dumps(request["detail"]))
            refused["metadata"].update(service=Source.VENDOR_MEDIATOR.value, status="error")
            refused["data"]["error"] = {"name": "VendorRejected", "reason": "forged"}
            # The order process is a source too, but not the one that answers for the vendor.
            for source in (*FORGERS, Source.ORDER_PROCESS.value):
                _put(cloud, source, contract.VENDOR_DETAIL_TYPE, submitted)
                _put(cloud, source, contract.VENDOR_DETAIL_TYPE, refused)
        outcome = cloud.wait_for_order(reference, timeout=60)
    finally:
        vendor.faults = FaultProfile()

    # The outage was waited out and the vendor's own answers recorded: nothing forged.
    assert (outcome.status, outcome.execution_status) == ("COMPLETED", "SUCCEEDED")
    record = cloud.order_item(reference)
    assert record is not None
    assert "FORGED" not in json.dumps(record, default=str)
    assert [e.points for e in vendor.ledger() if e.order_reference == reference] == [99]
    assert [r.code for r in vendor.redemptions()] == ["V-SPOOF"]

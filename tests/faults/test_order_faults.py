"""Faults inside the system rather than at the vendor: a worker that crashes, a worker whose
answer comes after its task timed out, duplicate answers, malformed events on the bus. Each
scenario checks the invariants: the order ends, the vendor's effects are applied once, nothing is
left in flight, and every dead-letter message is accounted for."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from fake_vendor import FakeVendor
from local_cloud.cloud import LocalCloud
from loyalty import contract
from tests.faults.conftest import (
    FAST_MEDIATOR,
    assert_settled,
    effects_of,
    take_dead_letter_reasons,
    take_dead_letters,
)

# Worker steps give up on a silent worker after 2 s (and try again), so a crash plays out fast.
CLOUD_CONTEXT = {
    **FAST_MEDIATOR,
    "loyalty:workerStepHeartbeatSeconds": 2,
    "loyalty:workerStepTimeoutSeconds": 30,
}


def _of_order(reference: str) -> Callable[[dict[str, Any]], bool]:
    return lambda event: event.get("detail", {}).get("order_reference") == reference


def _step_requests(
    cloud: LocalCloud, step: contract.OrderStep = contract.OrderStep.STORE
) -> Callable[[str], list[str]]:
    """A tap on ``step``'s requests (made before the order is submitted); called with an order
    reference, it gives the task tokens of that order's requests, oldest first. (The event log
    keeps no token: it logs step requests as one-line summaries.)"""
    tap = cloud.tap(contract.order_step_pattern(step))
    return lambda reference: [
        event["detail"]["TaskToken"]
        for event in tap.events()
        if event["detail"].get("order_reference") == reference
    ]


def test_a_worker_that_crashes_is_retried_by_the_state_machine_not_by_lambda(
    cloud: LocalCloud, vendor: FakeVendor, order: Callable[..., dict[str, Any]]
) -> None:
    # The step waits 2 s (a minute, scaled like Lambda's timing): Lambda's own retry would come
    # after that, so the worker has none, and each crash goes straight to its dead-letter queue.
    sale = order()
    reference = sale["order_reference"]

    store_requests = _step_requests(cloud)
    with cloud.function_fault("StoreOrderWorker", times=2, when=_of_order(reference)) as crashed:
        cloud.submit_order(sale)
        outcome = cloud.wait_for_order(reference, timeout=60)

    assert (outcome.status, outcome.execution_status) == ("COMPLETED", "SUCCEEDED")
    history = cloud.execution_history(cloud.execution_arn(reference))
    # Each crashed request is silent past its 2 s heartbeat (a cold start on a busy machine can
    # take one more: seen once in a fault run).
    timed_out = sum(e["type"] == "TaskTimedOut" for e in history)
    assert timed_out >= 2
    tokens = store_requests(reference)  # sent again each time, with a new token
    assert len(set(tokens)) == len(tokens) == timed_out + 1
    assert [event["detail"]["TaskToken"] for event in crashed] == tokens[:2]
    assert effects_of(vendor, reference) == ([25], ["V-1"])
    # One dead letter per crashed request, each with the error and one attempt.
    ((queue, records),) = take_dead_letters(cloud).items()
    assert "StoreOrder" in queue
    assert [r["requestPayload"]["detail"]["TaskToken"] for r in records] == tokens[:2]
    assert {r["responsePayload"]["errorType"] for r in records} == {"InjectedCrashError"}
    assert {r["requestContext"]["approximateInvokeCount"] for r in records} == {1}
    assert_settled(cloud, outcome)


def test_a_step_that_never_answers_fails_the_order_with_an_error_naming_it(
    cloud: LocalCloud, vendor: FakeVendor, order: Callable[..., dict[str, Any]]
) -> None:
    sale = order()
    reference = sale["order_reference"]

    with cloud.function_fault("ProportionDiscountsWorker", times=3, when=_of_order(reference)):
        cloud.submit_order(sale)
        # while it waits, the stall report (a test's failure message) names the open task
        deadline = time.monotonic() + 30
        while "'ProportionDiscounts': 1" not in (report := cloud.stall_report(reference)):
            assert time.monotonic() < deadline, report
            time.sleep(0.1)
        outcome = cloud.wait_for_order(reference, timeout=60)

    assert (outcome.status, outcome.execution_status) == ("FAILED", "FAILED")
    assert outcome.error == "StepTimedOut"
    assert outcome.cause is not None
    assert outcome.cause.startswith("order.proportion-discounts did not answer in 3 attempts")
    assert effects_of(vendor, reference) == ([], [])
    assert len(next(iter(take_dead_letters(cloud).values()))) == 3
    assert_settled(cloud, outcome)


def test_a_late_delivery_of_a_step_never_turns_a_failed_order_completed(
    cloud: LocalCloud, vendor: FakeVendor, order: Callable[..., dict[str, Any]]
) -> None:
    # GIVEN an order whose effects were applied but whose completion never answered: FAILED
    sale = order()
    reference = sale["order_reference"]
    requests = cloud.tap(
        {
            "detail-type": [contract.OrderStep.COMPLETE.value],
            "detail": {"order_reference": [reference]},
        }
    )
    ended = cloud.tap({"detail-type": ["order.completed", "order.failed"]})
    with cloud.function_fault("CompleteOrderWorker", times=3, when=_of_order(reference)):
        cloud.submit_order(sale)
        outcome = cloud.wait_for_order(reference, timeout=60)
    assert (outcome.status, outcome.error) == ("FAILED", "StepTimedOut")
    take_dead_letters(cloud)

    # WHEN its first completion request is delivered again, late (as Lambda does with an event
    # it held back, throttled, within its maximum age)
    first = requests.events()[0]
    cloud.put_events(
        {"source": first["source"], "detail_type": first["detail-type"], "detail": first["detail"]}
    )
    assert cloud.wait_idle(timeout=30), cloud.in_flight()

    # THEN the late run changed nothing and announced nothing
    after = cloud.order_outcome(reference)
    assert (after.status, after.error) == ("FAILED", "StepTimedOut")
    mine = [e for e in ended.events() if e["detail"]["order_reference"] == reference]
    assert [e["detail-type"] for e in mine] == ["order.failed"]
    log = cloud.function("CompleteOrderWorker").log_sink.lines
    assert any("stale step ignored" in line and reference in line for line in log)
    # What the order applied was given back (compensation), once: a credit and its reversal.
    ledger = [e.operation for e in vendor.ledger() if e.order_reference == reference]
    assert ledger == ["credit", "deduct"]
    assert [r.code for r in vendor.reversals() if r.order_reference == reference] == ["V-1"]
    assert_settled(cloud, after)


def test_an_answer_after_its_task_timed_out_is_dropped_and_the_retry_completes_the_order(
    cloud: LocalCloud, vendor: FakeVendor, order: Callable[..., dict[str, Any]]
) -> None:
    sale = order()
    reference = sale["order_reference"]
    answers = cloud.tap(
        {
            "detail-type": [contract.TaskAnswer.FINISHED.value],
            "detail": {"order_reference": [reference]},
        }
    )

    recognise_requests = _step_requests(cloud, contract.OrderStep.RECOGNISE)
    # Recognition writes nothing, so its late run still answers (a step that writes would find
    # itself no longer current and answer nothing: see the late-retry scenarios).
    with cloud.function_fault(
        "RecogniseOrderWorker", times=1, stall_seconds=3.5, when=_of_order(reference)
    ) as stalled:
        cloud.submit_order(sale)
        outcome = cloud.wait_for_order(reference, timeout=60)
        assert cloud.wait_idle(timeout=30), cloud.in_flight()  # the stalled worker answers too

    assert (outcome.status, outcome.execution_status) == ("COMPLETED", "SUCCEEDED")
    late_token = stalled[0]["detail"]["TaskToken"]
    first, second = recognise_requests(reference)
    assert first == late_token != second
    # Both store requests were answered: the retry's in time, the stalled one late...
    answered = [e["detail"]["TaskToken"] for e in answers.events()]
    assert answered.count(late_token) == 1 and answered.count(second) == 1
    # ...and the late one was dropped by the Step Finisher, not sent to a dead-letter queue.
    assert _finisher_outcome(cloud, late_token) == "TokenAlreadyClosed"
    assert effects_of(vendor, reference) == ([25], ["V-1"])
    assert_settled(cloud, outcome)


def _buffer_queue(dead: dict[str, Any], buffer: str) -> str:
    """The logical id of ``buffer``'s dead-letter queue among ``dead``'s."""
    (queue,) = [q for q in dead if q.startswith(f"{buffer}DeadLetterQueue")]
    return queue


def _finisher_outcome(cloud: LocalCloud, token: str) -> str:
    """The last state the Step Finisher entered for the answer carrying ``token``."""
    sfn = cloud.client("stepfunctions")
    finisher = cloud.output("StepFinisherArn")
    for execution in sfn.list_executions(stateMachineArn=finisher)["executions"]:
        arn = execution["executionArn"]
        if token not in sfn.describe_execution(executionArn=arn)["input"]:
            continue
        entered = [
            e["stateEnteredEventDetails"]["name"]
            for e in cloud.execution_history(arn)
            if "stateEnteredEventDetails" in e
        ]
        return entered[-1]
    raise AssertionError("no Step Finisher execution for that token")


def test_duplicate_answers_change_nothing(
    cloud: LocalCloud, vendor: FakeVendor, order: Callable[..., dict[str, Any]]
) -> None:
    sale = order(vouchers=[{"voucher_code": "V-2"}, {"voucher_code": "V-3"}])
    reference = sale["order_reference"]
    worker_answers = cloud.tap(
        {
            "detail-type": [contract.TaskAnswer.FINISHED.value],
            "detail": {"order_reference": [reference]},
        }
    )
    vendor_answers = cloud.tap(contract.vendor_answer_pattern())
    cloud.submit_order(sale)
    outcome = cloud.wait_for_order(reference)
    assert outcome.status == "COMPLETED"
    assert cloud.wait_idle(timeout=30)
    token_handler_log = cloud.function("TokenHandler").log_sink
    dropped_before = sum("answer dropped" in line for line in token_handler_log.lines)

    answers = [
        *worker_answers.events(),
        *(
            e
            for e in vendor_answers.events()
            if e["detail"]["data"]["loyalty_order_reference"] == reference
        ),
    ]
    assert len(answers) >= 6 + 3  # six worker steps; points and two vouchers
    for event in answers:  # every answer delivered a second time
        cloud.put_events(
            {
                "source": event["source"],
                "detail_type": event["detail-type"],
                "detail": event["detail"],
            }
        )
    assert cloud.wait_idle(timeout=30), cloud.in_flight()

    after = cloud.order_outcome(reference)
    assert (after.status, after.execution_status, after.state_transitions) == (
        outcome.status,
        outcome.execution_status,
        outcome.state_transitions,
    )
    assert {k: v["status"] for k, v in after.items.items()} == {
        k: v["status"] for k, v in outcome.items.items()
    }
    assert effects_of(vendor, reference) == ([25], ["V-2", "V-3"])
    dropped = sum("answer dropped" in line for line in token_handler_log.lines) - dropped_before
    assert dropped == 3  # the Token Handler dropped each vendor answer's duplicate
    assert _finisher_outcome(cloud, answers[0]["detail"]["TaskToken"]) == "TokenAlreadyClosed"
    assert_settled(cloud, outcome)


def test_malformed_events_on_the_bus_end_in_dead_letter_queues_with_their_reason(
    cloud: LocalCloud, vendor: FakeVendor
) -> None:
    sfn = cloud.client("stepfunctions")
    executions_before = len(
        sfn.list_executions(stateMachineArn=cloud.state_machine_arn)["executions"]
    )
    no_reference = {"loyalty_reference": "FAULT-MEMBER", "lines": []}
    answer_without_order = {
        "metadata": contract.vendor_metadata(
            domain=contract.DEFAULT_DOMAIN,
            service=contract.Source.VENDOR_MEDIATOR,
            type=contract.VendorRequestType.VOUCHER.value,
            status=contract.VendorStatus.SUBMITTED,
        ),
        # a token, so the Token Handler's rule (seed 000 step 4) matches; but no order reference
        "data": {"loyalty_request_id": "garbage-token"},
    }
    cloud.put_events(
        {
            "source": contract.Source.ORDER_INTAKE.value,
            "detail_type": contract.OrderEvent.RECEIVED.value,
            "detail": no_reference,
        },
        {
            "source": contract.Source.VENDOR_MEDIATOR.value,
            "detail_type": contract.VENDOR_DETAIL_TYPE,
            "detail": answer_without_order,
        },
        {
            "source": contract.Source.ORDER_PROCESS.value,
            "detail_type": contract.TaskAnswer.FINISHED.value,
            "detail": {"TaskToken": "not-a-token", "order_reference": "FAULT-GARBAGE"},
        },
    )
    assert cloud.wait_idle(timeout=30), cloud.in_flight()

    # Refused by the order starter and the Token Handler: each buffer's dead-letter queue holds
    # the event as it came, the reason in the message's ``error`` attribute.
    dead = take_dead_letter_reasons(cloud)
    explained = {
        queue: [(event["detail"], (reason or "").split(":")[0]) for event, reason in messages]
        for queue, messages in dead.items()
    }
    assert len(explained) == 2, explained
    assert explained == {
        _buffer_queue(dead, "OrdersReceivedBuffer"): [(no_reference, "InvalidOrderEventError")],
        _buffer_queue(dead, "VendorAnswersBuffer"): [(answer_without_order, "ValidationError")],
    }
    # the made-up token was refused by Step Functions and dropped by the Step Finisher
    assert _finisher_outcome(cloud, "not-a-token") == "TokenAlreadyClosed"
    executions = sfn.list_executions(stateMachineArn=cloud.state_machine_arn)["executions"]
    assert len(executions) == executions_before  # nothing started
    assert vendor.ledger() == [] and vendor.redemptions() == []
    assert_settled(cloud)


def test_a_malformed_worker_answer_fails_the_order_with_a_named_error(
    cloud: LocalCloud, vendor: FakeVendor, order: Callable[..., dict[str, Any]]
) -> None:
    sale = order()
    reference = sale["order_reference"]
    requests = cloud.tap(
        {
            "detail-type": [contract.OrderStep.STORE.value],
            "detail": {"order_reference": [reference]},
        }
    )

    # While the store worker is stalled, a buggy worker answers its request without a result.
    with cloud.function_fault(
        "StoreOrderWorker", times=1, stall_seconds=1.5, when=_of_order(reference)
    ):
        cloud.submit_order(sale)
        (request,) = requests.wait_for(lambda event: True)
        cloud.put_events(
            {
                "source": contract.Source.ORDER_PROCESS.value,
                "detail_type": contract.TaskAnswer.FINISHED.value,
                "detail": {
                    "TaskToken": request["detail"]["TaskToken"],
                    "order_reference": reference,
                },
            }
        )
        outcome = cloud.wait_for_order(reference)
        assert cloud.wait_idle(timeout=30), cloud.in_flight()  # the real answer comes, late

    assert (outcome.status, outcome.error) == ("FAILED", "MalformedWorkerAnswer")
    assert "a worker answer without $.detail.result" in (outcome.cause or "")
    assert effects_of(vendor, reference) == ([], [])  # failed before any vendor step
    assert_settled(cloud, outcome)

"""The Order Processing stack as synthesised: the flow, its rules, resume paths and IAM scope."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

from cdk_constructs.event_driven_state_machine import PUT_EVENTS_ERRORS
from loyalty import contract
from loyalty.contract import OrderStep
from tests.infrastructure.asl import all_states, definition, happy_path
from tests.sample_events import load_event

WAIT_FOR_TOKEN = ":states:::events:putEvents.waitForTaskToken"


@pytest.fixture(scope="module")
def order_asl(order_template: Template) -> dict[str, Any]:
    return definition(order_template, "STANDARD")


@pytest.fixture(scope="module")
def waiting_tasks(order_asl: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: state
        for name, state in all_states(order_asl["States"])
        if state.get("Resource", "").endswith(WAIT_FOR_TOKEN)
    }


VENDOR_REQUESTS = (
    "ApplyPoints",
    "RedeemVoucher",
    "RedeemReward",
    "ReversePoints",
    "ReverseVoucher",
    "ReverseReward",
)


def rule_patterns(template: Template) -> list[dict[str, Any]]:
    return [
        r["Properties"]["EventPattern"]
        for r in template.find_resources("AWS::Events::Rule").values()
    ]


def test_the_flow_runs_every_step_of_seed_000_in_order(order_asl: dict[str, Any]) -> None:
    path, state = [], order_asl["StartAt"]
    while state:
        path.append(state)
        current = order_asl["States"][state]
        state = current.get("Next") or current.get("Default")  # an order needing no approval
    assert path == [
        "CompensateOnly",  # an operator's retry of a failed compensation starts there
        "RecogniseOrder",
        "ValidateOrder",
        "StoreOrder",
        "ProportionDiscounts",
        "TransformOrder",
        "NeedsApproval",
        "ApplyLoyalty",
        "CompleteOrder",
    ]
    branches = order_asl["States"]["ApplyLoyalty"]["Branches"]
    assert [b["StartAt"] for b in branches] == ["ApplyPoints", "RedeemVouchers", "RedeemRewards"]


def test_every_unit_of_work_is_an_event_with_a_task_token(
    order_asl: dict[str, Any], waiting_tasks: dict[str, dict[str, Any]]
) -> None:
    task_states = {n for n, s in all_states(order_asl["States"]) if s["Type"] == "Task"}
    # ... but the approval, whose function is invoked with its token (seed 002).
    assert task_states == {*waiting_tasks, "AwaitApproval"}
    assert len(waiting_tasks) == 15


def test_no_state_only_reshapes_data_on_the_way_of_an_order_that_goes_well(
    order_asl: dict[str, Any],
) -> None:
    # Pass states cost a state transition each ($25 per million) and do no work: the only ones
    # name what went wrong, after a Catch.
    reachable = happy_path(order_asl["States"], order_asl["StartAt"])
    assert [n for n, s in reachable if s["Type"] == "Pass"] == []
    passes = [s for _, s in all_states(order_asl["States"]) if s["Type"] == "Pass"]
    assert passes  # they exist, on failure paths only


def test_every_waiting_task_puts_its_request_again_when_eventbridge_does_not_take_it(
    waiting_tasks: dict[str, dict[str, Any]],
) -> None:
    for name, task in waiting_tasks.items():
        (retrier,) = [r for r in task["Retry"] if "EventBridge.FailedEntry" in r["ErrorEquals"]]
        assert retrier["ErrorEquals"] == PUT_EVENTS_ERRORS, name
        assert retrier["BackoffRate"] == 2 and retrier["JitterStrategy"] == "FULL", name
        assert retrier["MaxAttempts"] >= 3 and retrier["MaxDelaySeconds"] <= 60, name


def test_a_waiting_task_puts_its_request_again_when_eventbridge_throttles_it(
    waiting_tasks: dict[str, dict[str, Any]],
) -> None:
    # Past the account's PutEvents quota EventBridge refuses the whole request (HTTP 400
    # ThrottlingException); Step Functions fails the task with EventBridge.ThrottlingException,
    # the SDK's class for that code (EventBridge's API model declares it), as the local cloud
    # does (tests/local_cloud/test_throttling.py). Not retried, the task's catch fails the order.
    for name, task in waiting_tasks.items():
        retried = {error for retrier in task["Retry"] for error in retrier["ErrorEquals"]}
        assert "EventBridge.ThrottlingException" in retried, name


@pytest.mark.parametrize(
    ("task", "step"),
    [
        ("RecogniseOrder", OrderStep.RECOGNISE),
        ("StoreOrder", OrderStep.STORE),
        ("CompleteOrder", OrderStep.COMPLETE),
        ("RecordRejection", OrderStep.RECORD_REJECTION),
    ],
)
def test_a_step_that_never_answers_fails_the_order_with_an_error_naming_it(
    order_asl: dict[str, Any], task: str, step: OrderStep
) -> None:
    states = order_asl["States"]
    (timed_out,) = [
        c for c in states[task]["Catch"] if "States.HeartbeatTimeout" in c["ErrorEquals"]
    ]
    named = states[timed_out["Next"]]
    after = "VendorPhaseFailed" if task == "CompleteOrder" else "RecordFailure"
    assert named["Type"] == "Pass" and named["Next"] == after
    assert named["ResultPath"] == "$.error"
    assert named["Parameters"]["Error"] == contract.ErrorName.STEP_TIMED_OUT
    assert named["Parameters"]["Cause"].startswith(f"{step.value} did not answer in 3 attempts")


def test_vendor_steps_never_fail_their_branch_so_siblings_always_finish(
    order_asl: dict[str, Any],
) -> None:
    states = dict(all_states(order_asl["States"]))
    for name in ("ApplyPoints", "RedeemVoucher", "RedeemReward"):
        task = states[name]
        assert task["ResultSelector"] == {"applied": True}, name  # a small, constant output
        (catch,) = task["Catch"]
        assert catch["ErrorEquals"] == ["States.ALL"]
        unsettled = states[catch["Next"]]
        assert (unsettled["Type"], unsettled["Result"]) == ("Pass", {"applied": False})
        assert unsettled.get("End") is True
    assert states["ApplyLoyalty"]["Next"] == "CompleteOrder"  # which decides from the items


def test_every_waiting_task_has_a_heartbeat_shorter_than_its_timeout_and_retries_timeouts(
    waiting_tasks: dict[str, dict[str, Any]],
) -> None:
    for name, task in waiting_tasks.items():
        assert 0 < task["HeartbeatSeconds"] < task["TimeoutSeconds"], name
        if name == "AwaitApproval":
            continue  # a person is not asked twice: see the approval tests
        retried = [e for r in task.get("Retry", []) for e in r["ErrorEquals"]]
        assert {"States.HeartbeatTimeout", "States.Timeout"} <= set(retried), name


@pytest.mark.parametrize("step", ["ApplyPoints", "RedeemVoucher", "RedeemReward"])
def test_vendor_requests_carry_the_token_in_loyalty_request_id(
    waiting_tasks: dict[str, dict[str, Any]], step: str
) -> None:
    (entry,) = waiting_tasks[step]["Parameters"]["Entries"]
    assert entry["DetailType"] == contract.VENDOR_DETAIL_TYPE
    assert entry["Source"] == contract.Source.ORDER_PROCESS
    assert entry["Detail"]["data"]["loyalty_request_id.$"] == "$$.Task.Token"
    assert "TaskToken.$" not in entry["Detail"]
    assert entry["Detail"]["metadata"]["status"] == "processed"


def test_voucher_request_is_seed_000_dispatch_voucher_field_for_field(
    waiting_tasks: dict[str, dict[str, Any]],
) -> None:
    (entry,) = waiting_tasks["RedeemVoucher"]["Parameters"]["Entries"]
    assert entry["Detail"] == {
        "metadata": {
            "domain": "LEGO-LOYALTY",
            "service": "service-loyalty-order-process",
            "category": "task-status",
            "type": "voucher",
            "status": "processed",
        },
        "data": {
            "loyalty_request_id.$": "$$.Task.Token",
            "loyalty_reference.$": "$.loyalty_reference",
            "merchant_reference.$": "$.merchant_reference",
            "loyalty_order_reference.$": "$.loyalty_order_reference",
            "vouchers": [{"voucher_code.$": "$.voucher_code"}],
        },
    }


def test_points_request_type_is_the_orders_sale_or_return(
    waiting_tasks: dict[str, dict[str, Any]],
) -> None:
    (entry,) = waiting_tasks["ApplyPoints"]["Parameters"]["Entries"]
    assert entry["Detail"]["metadata"]["type.$"] == "$.loyalty.order_type"


def test_worker_steps_carry_the_token_in_task_token(
    waiting_tasks: dict[str, dict[str, Any]],
) -> None:
    workers = {n: t for n, t in waiting_tasks.items() if n not in VENDOR_REQUESTS}
    assert len(workers) == len(OrderStep) - 1  # not the approval: invoked, not an event
    for name, task in workers.items():
        (entry,) = task["Parameters"]["Entries"]
        assert entry["Detail"]["TaskToken.$"] == "$$.Task.Token", name
        assert entry["DetailType"] in {s.value for s in OrderStep}, name


def test_every_failure_is_recorded_then_fails_the_execution_with_its_error(
    order_asl: dict[str, Any],
) -> None:
    states = order_asl["States"]
    for name in (
        "RecogniseOrder",
        "ValidateOrder",
        "StoreOrder",
        "ProportionDiscounts",
        "TransformOrder",
        "AwaitApproval",
        "ApplyLoyalty",
        "CompleteOrder",
        "RecordRejection",
    ):
        last_catch = states[name]["Catch"][-1]
        # Once the vendor requests went out, through a state that marks it.
        vendor_phase = name in ("ApplyLoyalty", "CompleteOrder")
        assert last_catch == {
            "ErrorEquals": ["States.ALL"],
            "ResultPath": "$.error",
            "Next": "VendorPhaseFailed" if vendor_phase else "RecordFailure",
        }, name
    marked = states["VendorPhaseFailed"]
    assert (marked["Type"], marked["Result"], marked["ResultPath"]) == (
        "Pass",
        True,
        "$.error.VendorPhase",
    )
    assert marked["Next"] == "RecordFailure"
    assert states["RecordFailure"]["Next"] == "CompensateIfApplied"
    assert states["CompensateIfApplied"]["Default"] == "CancelledOrFailed"
    # A cancelled order's execution succeeds; any other failure fails it.
    (cancelled,) = states["CancelledOrFailed"]["Choices"]
    assert (cancelled["StringEquals"], cancelled["Next"]) == ("CANCELLED", "OrderCancelled")
    assert states["OrderCancelled"]["Type"] == "Succeed"
    assert states["CancelledOrFailed"]["Default"] == "OrderFailed"
    assert states["RecordFailure"]["ResultPath"] == "$.failure"
    # The error the failure was recorded with: named, never Step Functions' own States.*.
    assert states["OrderFailed"] == {
        "Type": "Fail",
        "ErrorPath": "$.failure.error",
        "CausePath": "$.failure.cause",
    }
    (unrecorded,) = states["RecordFailure"]["Catch"]
    assert states[unrecorded["Next"]]["Type"] == "Fail"
    assert not states[unrecorded["Next"]]["Error"].startswith("States.")


def test_an_order_with_approval_reasons_waits_for_a_person_before_any_vendor_step(
    order_asl: dict[str, Any],
) -> None:
    choice = order_asl["States"]["NeedsApproval"]
    assert choice["Choices"] == [
        {"Variable": "$.loyalty.approval_reasons[0]", "IsPresent": True, "Next": "AwaitApproval"}
    ]
    assert order_asl["States"]["AwaitApproval"]["Next"] == "ApplyLoyalty"


def test_a_rejection_or_no_answer_in_time_ends_rejected_and_nothing_is_retried(
    order_asl: dict[str, Any], order_template: Template
) -> None:
    approval = order_asl["States"]["AwaitApproval"]
    # Seed 002's approach: the function is invoked with the token (never on the bus).
    assert approval["Resource"].endswith(":states:::lambda:invoke.waitForTaskToken")
    assert approval["Parameters"]["Payload"]["TaskToken.$"] == "$$.Task.Token"
    # A person's "no", a cancellation and the deadline are never retried (a person is not asked
    # twice); Lambda's own errors are, and so is a function that crashed, twice.
    retries = [(r["ErrorEquals"], r["MaxAttempts"]) for r in approval["Retry"]]
    assert retries[1:] == [
        (["OrderRejected", "OrderCancelled", "States.HeartbeatTimeout", "States.Timeout"], 0),
        (["States.TaskFailed"], 2),
    ]
    assert retries[0][0][0].startswith("Lambda.")
    assert [(c["ErrorEquals"], c["Next"]) for c in approval["Catch"]] == [
        (["OrderRejected"], "RecordRejection"),
        (["States.HeartbeatTimeout", "States.Timeout"], "RecordRejection"),
        (["OrderCancelled"], "RecordFailure"),
        (["States.TaskFailed"], "ApprovalNotOpened"),
        (["States.ALL"], "RecordFailure"),
    ]
    not_opened = order_asl["States"]["ApprovalNotOpened"]
    assert not_opened["Parameters"]["Error"] == "ApprovalNotOpened"
    assert not_opened["Next"] == "RecordFailure"
    assert approval["HeartbeatSeconds"] == 7 * 24 * 3600  # cdk.json's approvalTimeoutSeconds
    assert order_asl["States"]["RecordRejection"]["Next"] == "OrderRejected"
    assert order_asl["States"]["OrderRejected"]["Type"] == "Succeed"


def test_a_duplicate_order_ends_before_any_vendor_step(order_asl: dict[str, Any]) -> None:
    first_catch = order_asl["States"]["StoreOrder"]["Catch"][0]
    assert first_catch["ErrorEquals"] == ["DuplicateOrder"]
    assert order_asl["States"][first_catch["Next"]]["Type"] == "Fail"


def test_order_machine_is_standard_with_tracing_and_logging(order_template: Template) -> None:
    order_template.has_resource_properties(
        "AWS::StepFunctions::StateMachine",
        {
            "StateMachineType": "STANDARD",
            "TracingConfiguration": {"Enabled": True},
            "LoggingConfiguration": Match.object_like(
                {"Level": "ERROR", "IncludeExecutionData": True}
            ),
        },
    )


def test_rules_use_the_contracts_patterns(order_template: Template) -> None:
    patterns = rule_patterns(order_template)
    expected = [
        contract.order_received_pattern(),
        contract.task_answer_pattern(),
        contract.vendor_answer_pattern(),
        contract.vendor_answer_pattern(types=contract.REVERSAL_TYPES),
        *(
            contract.order_step_pattern(step)
            for step in OrderStep
            if step is not OrderStep.AWAIT_APPROVAL  # invoked with its token, not on the bus
        ),
    ]
    canonical = lambda p: json.dumps(p, sort_keys=True)  # noqa: E731 - CDK sorts top-level keys
    assert sorted(map(canonical, patterns)) == sorted(map(canonical, expected))


def test_token_handler_rule_is_seed_step_4_byte_for_byte_plus_the_mediators_source(
    order_template: Template,
) -> None:
    seed = json.dumps(load_event("seed000_step4_pattern"))
    (rule,) = [
        p for p in rule_patterns(order_template) if json.dumps(contract.seed_pattern(p)) == seed
    ]
    assert rule["source"] == [contract.Source.VENDOR_MEDIATOR.value]


def test_every_rule_target_has_a_retry_policy_and_a_dead_letter_queue(
    order_template: Template,
) -> None:
    for rule in order_template.find_resources("AWS::Events::Rule").values():
        for target in rule["Properties"]["Targets"]:
            assert "Arn" in target["DeadLetterConfig"]
            assert target["RetryPolicy"]["MaximumRetryAttempts"] > 0


def test_step_finisher_is_express_and_may_resume_only_the_order_machine(
    order_template: Template,
) -> None:
    finisher = definition(order_template, "EXPRESS")
    resources = {s.get("Resource", "") for _, s in all_states(finisher["States"])}
    assert {r.split(":::")[-1] for r in resources if r} == {
        "aws-sdk:sfn:sendTaskSuccess",
        "aws-sdk:sfn:sendTaskFailure",
    }
    order_machine = order_template.find_resources(
        "AWS::StepFunctions::StateMachine", {"Properties": {"StateMachineType": "STANDARD"}}
    )
    (order_machine_id,) = order_machine
    order_template.has_resource_properties(
        "AWS::IAM::Policy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        {
                            "Action": ["states:SendTaskFailure", "states:SendTaskSuccess"],
                            "Effect": "Allow",
                            "Resource": {"Ref": order_machine_id},
                        }
                    ]
                )
            },
            "Roles": [{"Ref": Match.string_like_regexp("StepFinisherStateMachineRole")}],
        },
    )


def test_step_finisher_uses_the_pascal_case_aws_requires(order_template: Template) -> None:
    finisher = definition(order_template, "EXPRESS")
    params = {n: s["Parameters"] for n, s in all_states(finisher["States"]) if "Parameters" in s}
    assert params["SendTaskSuccess"] == {
        "TaskToken.$": "$.detail.TaskToken",
        "Output.$": "States.JsonToString($.detail.result)",
    }
    assert set(params["SendTaskFailure"]) == {"TaskToken.$", "Error.$", "Cause.$"}
    closed = finisher["States"]["SendTaskSuccess"]["Catch"][0]["ErrorEquals"]
    assert closed == [
        "Sfn.InvalidTokenException",
        "Sfn.TaskTimedOutException",
        "Sfn.TaskDoesNotExistException",
    ]


def test_no_iam_statement_allows_every_action(
    order_template: Template, vendor_template: Template
) -> None:
    for template in (order_template, vendor_template):
        for policy in template.find_resources("AWS::IAM::Policy").values():
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
                actions = (
                    statement["Action"]
                    if isinstance(statement["Action"], list)
                    else [statement["Action"]]
                )
                assert not any(a == "*" or a.endswith(":*") for a in actions), statement


def test_orders_table_is_encrypted_recoverable_and_retained(order_template: Template) -> None:
    order_template.has_resource(
        "AWS::DynamoDB::Table",
        {
            "Properties": Match.object_like(
                {
                    "KeySchema": [
                        {"AttributeName": "order_reference", "KeyType": "HASH"},
                        {"AttributeName": "record", "KeyType": "RANGE"},
                    ],
                    "SSESpecification": {"SSEEnabled": True},
                    "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
                }
            ),
            "DeletionPolicy": "Retain",
        },
    )


def test_dead_letter_queues_are_encrypted_and_ssl_only(order_template: Template) -> None:
    queues = order_template.find_resources("AWS::SQS::Queue")
    assert queues
    for queue in queues.values():
        assert queue["Properties"]["SqsManagedSseEnabled"] is True
    for policy in order_template.find_resources("AWS::SQS::QueuePolicy").values():
        statements = policy["Properties"]["PolicyDocument"]["Statement"]
        assert any(
            s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
            for s in statements
        )


def test_vendor_requests_name_their_execution_so_a_re_run_has_its_own_vendor_keys(
    waiting_tasks: dict[str, dict[str, Any]],
) -> None:
    for name in VENDOR_REQUESTS:
        (entry,) = waiting_tasks[name]["Parameters"]["Entries"]
        assert entry["Resources.$"] == "States.Array($$.Execution.Id)", name
        assert entry["Detail"]["data"]["loyalty_request_id.$"] == "$$.Task.Token", name


def test_a_failure_with_applied_effects_reverses_them_then_settles_how_that_ended(
    order_asl: dict[str, Any],
) -> None:
    states = dict(all_states(order_asl["States"]))
    choice = states["CompensateIfApplied"]
    (when,) = choice["Choices"]
    assert (when["Variable"], when["IsPresent"], when["Next"]) == (
        "$.failure.compensation",
        True,
        "Compensate",
    )
    branches = states["Compensate"]["Branches"]
    assert [b["StartAt"] for b in branches] == [
        "ReversePoints",
        "ReverseVouchers",
        "ReverseRewards",
    ]
    assert (
        states["ReversePoints"]["Parameters"]["Entries"][0]["Detail"]["metadata"]["type.$"]
        == "$.failure.compensation.points_type"
    )
    voucher = states["ReverseVoucher"]["Parameters"]["Entries"][0]["Detail"]["metadata"]
    assert voucher["type"] == "voucher-reversal"
    assert states["Compensate"]["Next"] == "SettleCompensation"
    assert states["Compensate"]["Catch"][-1]["Next"] == "SettleCompensation"
    ended = states["CompensationEnded"]
    assert {c["StringEquals"]: c["Next"] for c in ended["Choices"]} == {
        "COMPENSATION_FAILED": "CompensationFailed",
        "CANCELLED": "OrderCancelled",
        "NEEDS_RECONCILIATION": "CompensationOutcomeUnknown",
    }
    assert ended["Default"] == "CancelledOrFailed"


def test_reversals_travel_on_rules_of_their_own_beside_seed_000s(
    order_template: Template,
) -> None:
    patterns = [json.dumps(contract.seed_pattern(p)) for p in rule_patterns(order_template)]
    assert json.dumps(load_event("seed000_step4_pattern")) in patterns
    reversals = contract.vendor_answer_pattern(types=contract.REVERSAL_TYPES)
    assert json.dumps(contract.seed_pattern(reversals)) in patterns

"""The event contract against seed 000: its patterns and sample events, matched by the same
pattern matcher the local cloud's EventBridge uses."""

from __future__ import annotations

import ast
import json
import sys
from pathlib import Path
from typing import Any

import pytest
from moto.events.models import EventPattern

from loyalty import contract
from loyalty.contract import OrderStep, VendorRequestType
from tests.sample_events import load_event


def matches(pattern: dict[str, Any], event: dict[str, Any]) -> bool:
    return bool(EventPattern.load(json.dumps(pattern)).matches_event(event))


def test_token_handler_pattern_is_seed_step_4_byte_for_byte_plus_the_mediators_source() -> None:
    seed = load_event("seed000_step4_pattern")
    pattern = contract.vendor_answer_pattern()
    assert json.dumps(contract.seed_pattern(pattern)) == json.dumps(seed)
    assert pattern["source"] == [contract.Source.VENDOR_MEDIATOR.value]


def test_mediator_pattern_is_seed_step_2_for_the_four_types_plus_the_order_process_source() -> None:
    seed = load_event("seed000_step2_pattern")
    seed["detail"]["metadata"]["type"] = ["voucher", "reward", "sale", "return"]
    pattern = contract.vendor_request_pattern()
    assert json.dumps(contract.seed_pattern(pattern)) == json.dumps(seed)
    assert pattern["source"] == [contract.Source.ORDER_PROCESS.value]


@pytest.mark.parametrize("source", ["anyone", contract.Source.ORDER_INTAKE.value])
def test_a_vendor_answer_from_any_other_source_reaches_no_rule(source: str) -> None:
    answer = load_event("seed000_step3_voucher_submitted")
    assert matches(contract.vendor_answer_pattern(), answer)
    forged = {**answer, "source": source}
    for types in (contract.EFFECT_TYPES, contract.REVERSAL_TYPES):
        forged["detail"]["metadata"]["type"] = types[0].value
        assert not matches(contract.vendor_answer_pattern(types=types), forged)
    assert not matches(contract.task_answer_pattern(), {**forged, "detail-type": "TASK_FINISHED"})


def test_the_event_log_and_archive_take_whole_only_events_without_a_token() -> None:
    request = load_event("seed000_step1_voucher_request")
    answer = load_event("seed000_step3_voucher_submitted")
    step = {
        "source": contract.Source.ORDER_PROCESS.value,
        "detail-type": "order.store",
        "detail": {"TaskToken": "t", "order_reference": "R-1", "metadata": {}},
    }
    lifecycle = {
        "source": contract.Source.ORDER_PROCESS.value,
        "detail-type": "order.completed",
        "detail": {"order_reference": "R-1", "data": {"points": 5}},
    }
    whole = contract.token_free_pattern()
    summarised = [pattern for pattern, _ in contract.token_bearing().values()]
    for event in (request, answer, step):
        assert not matches(whole, event)
        assert sum(matches(pattern, event) for pattern in summarised) == 1
    assert matches(whole, lifecycle)
    assert not any(matches(pattern, lifecycle) for pattern in summarised)


def test_a_summary_line_reads_back_as_the_event_without_its_token() -> None:
    line = "R-1 service-loyalty-vendor-mediator event voucher submitted"
    assert contract.parse_event_summary(line) == {
        "source": "service-loyalty-vendor-mediator",
        "detail-type": "event",
        "detail": {
            "order_reference": "R-1",
            "metadata": {"type": "voucher", "status": "submitted"},
        },
    }
    assert contract.parse_event_summary("R-1  event voucher submitted") is None
    assert contract.parse_event_summary('{"source": "x"}') is None


def test_seed_request_reaches_the_mediator_and_not_the_token_handler() -> None:
    request = load_event("seed000_step1_voucher_request")
    assert matches(contract.vendor_request_pattern(), request)
    assert matches(load_event("seed000_step2_pattern"), request)
    assert not matches(contract.vendor_answer_pattern(), request)


def test_seed_answer_reaches_the_token_handler_and_not_the_mediator() -> None:
    answer = load_event("seed000_step3_voucher_submitted")
    assert matches(contract.vendor_answer_pattern(), answer)
    assert not matches(contract.vendor_request_pattern(), answer)


@pytest.mark.parametrize("kind", list(VendorRequestType))
@pytest.mark.parametrize("status", ["submitted", "error"])
def test_every_answer_type_and_status_reaches_the_token_handler(
    kind: VendorRequestType, status: str
) -> None:
    answer = load_event("seed000_step3_voucher_submitted")
    answer["detail"]["metadata"].update(type=kind.value, status=status)
    # Seed 000's rule for the four effects, its twin for their reversals: exactly one matches.
    seeds = matches(contract.vendor_answer_pattern(), answer)
    reversals = matches(contract.vendor_answer_pattern(types=contract.REVERSAL_TYPES), answer)
    assert (seeds, reversals) == (kind in contract.EFFECT_TYPES, kind in contract.REVERSALS)


@pytest.mark.parametrize("kind", list(VendorRequestType))
def test_every_request_type_reaches_the_mediator_by_exactly_one_rule(
    kind: VendorRequestType,
) -> None:
    request = load_event("seed000_step1_voucher_request")
    request["detail"]["metadata"]["type"] = kind.value
    seeds = matches(contract.vendor_request_pattern(), request)
    reversals = matches(contract.vendor_request_pattern(types=contract.REVERSAL_TYPES), request)
    assert (seeds, reversals) == (kind in contract.EFFECT_TYPES, kind in contract.REVERSALS)


def test_an_answer_without_a_token_is_not_delivered() -> None:
    answer = load_event("seed000_step3_voucher_submitted")
    del answer["detail"]["data"]["loyalty_request_id"]
    assert not matches(contract.vendor_answer_pattern(), answer)


def test_another_domain_is_not_ours() -> None:
    request = load_event("seed000_step1_voucher_request")
    request["detail"]["metadata"]["domain"] = "OTHER-LOYALTY"
    assert not matches(contract.vendor_request_pattern(), request)
    assert matches(contract.vendor_request_pattern("OTHER-LOYALTY"), request)


def _step_request(step: OrderStep) -> dict[str, Any]:
    return {
        "source": contract.Source.ORDER_PROCESS.value,
        "detail-type": step.value,
        "detail": {
            "metadata": contract.order_step_metadata(
                domain=contract.DEFAULT_DOMAIN,
                step=step.value,
                status=contract.StepStatus.REQUESTED,
            ),
            "TaskToken": "token",
            "order_reference": "R-1",
        },
    }


@pytest.mark.parametrize("step", list(OrderStep))
def test_a_step_request_reaches_only_its_worker(step: OrderStep) -> None:
    request = _step_request(step)
    assert [s for s in OrderStep if matches(contract.order_step_pattern(s), request)] == [step]
    assert not matches(contract.vendor_request_pattern(), request)
    assert not matches(contract.vendor_answer_pattern(), request)
    assert not matches(contract.task_answer_pattern(), request)


def test_worker_answers_reach_the_step_finisher_only() -> None:
    for answer in contract.TaskAnswer:
        event = {**_step_request(OrderStep.VALIDATE), "detail-type": answer.value}
        assert matches(contract.task_answer_pattern(), event)
        assert not any(matches(contract.order_step_pattern(s), event) for s in OrderStep)


def test_vendor_requests_do_not_reach_workers_or_the_finisher() -> None:
    request = load_event("seed000_step1_voucher_request")
    assert not any(matches(contract.order_step_pattern(s), request) for s in OrderStep)
    assert not matches(contract.task_answer_pattern(), request)


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("M101-S76-OP10-T65", None),
        ("a.b_c-1", None),
        (" WS-1", "leading or trailing whitespace"),
        ("WS-1\n", "leading or trailing whitespace"),
        ("W S-1", "not a valid order reference"),
        ("-WS", "not a valid order reference"),
        ("R:1", "not a valid order reference"),
        ("R" * 65, "not a valid order reference"),
        ("", "non-empty string"),
        (None, "non-empty string"),
        (12, "non-empty string"),
    ],
)
def test_the_canonical_order_reference(value: object, problem: str | None) -> None:
    found = contract.order_reference_problem(value)
    if problem is None:
        assert found is None
    else:
        assert found is not None and problem in found


def test_the_contract_imports_nothing_but_the_standard_library() -> None:
    """It ships in the Lambda asset as it is, and the CDK app imports it: a third-party import
    (a CDK type in the step table, say) would break one or the other."""
    modules = sorted(Path(contract.__file__).parent.glob("*.py"))
    assert len(modules) > 1, modules  # every module of the package, not only its __init__
    imported: set[str] = set()
    for module in modules:
        for node in ast.walk(ast.parse(module.read_text())):
            if isinstance(node, ast.Import):
                imported.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                imported.add("." * node.level + (node.module or ""))
    # Its own modules aside (``loyalty.contract.<part>``), nothing but the standard library.
    own = {name for name in imported if name.startswith(f"{contract.__name__}.")}
    outside = {name.split(".")[0] for name in imported - own}
    assert outside <= sys.stdlib_module_names | {"__future__"}, outside

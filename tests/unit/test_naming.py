from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from loyalty.contract import order_reference_problem
from loyalty.naming import MAX_EXECUTION_NAME, attempt_of, execution_arn_for, execution_name_for

VALID_NAME = re.compile(r"[A-Za-z0-9_.-]{1,80}")


def test_a_reference_that_is_a_valid_name_is_used_as_is() -> None:
    assert execution_name_for("M101-S76-OP10-T65") == "M101-S76-OP10-T65"


def test_unsafe_characters_are_replaced_and_a_hash_keeps_references_apart() -> None:
    first = execution_name_for("ORDER 1/2")
    second = execution_name_for("ORDER 1:2")
    assert VALID_NAME.fullmatch(first)
    assert first.startswith("ORDER_1_2-")
    assert first != second


@given(st.text(min_size=1, max_size=300))
def test_every_reference_gets_a_valid_deterministic_name(reference: str) -> None:
    name = execution_name_for(reference)
    assert VALID_NAME.fullmatch(name)
    assert len(name) <= MAX_EXECUTION_NAME
    assert execution_name_for(reference) == name


@given(st.text(min_size=1, max_size=120), st.text(min_size=1, max_size=120))
def test_distinct_references_get_distinct_names(first: str, second: str) -> None:
    if first != second:
        assert execution_name_for(first) != execution_name_for(second)


@given(st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", fullmatch=True), st.integers(1, 10_000))
def test_every_attempt_of_an_order_has_its_own_name_and_can_be_read_back(
    reference: str, attempt: int
) -> None:
    name = execution_name_for(reference, attempt)
    assert len(name) <= MAX_EXECUTION_NAME
    assert (name == reference) is (attempt == 1)
    assert attempt_of(f"arn:aws:states:us-east-1:123456789012:execution:m:{name}") == attempt


def test_no_reference_can_take_a_re_runs_name() -> None:
    # '+' is not allowed in an order reference, so no first run is named like a re-run.
    assert execution_name_for("M101", 2) == "M101+2"
    assert order_reference_problem("M101+2") is not None
    assert attempt_of("M101+2") == 2
    assert attempt_of("M101") == attempt_of("M101+x") == attempt_of("M101+1") == 1


def test_an_execution_arn_is_built_from_its_state_machine() -> None:
    machine = "arn:aws:states:eu-west-1:123456789012:stateMachine:orders"
    assert execution_arn_for(machine, "M1", 3) == (
        "arn:aws:states:eu-west-1:123456789012:execution:orders:M1+3"
    )

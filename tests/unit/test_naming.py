from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from loyalty.naming import MAX_EXECUTION_NAME, execution_name_for

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

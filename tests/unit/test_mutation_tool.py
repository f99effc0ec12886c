"""The mutation tool (`make mutation`) makes the changes it says it makes, and no others."""

from __future__ import annotations

import ast
import textwrap

from tests.mutation.equivalent import EQUIVALENT
from tests.mutation.mutants import apply, mutants

SOURCE = textwrap.dedent(
    '''
    """Docstring: 1 < 2 is never mutated."""
    LIMIT = 10


    def admit(count: int, open_: bool, rate: float = 0.5) -> bool:
        """Nor is this one."""
        logger.info("admitting", extra={"count": 1, "limit": 2})
        if count >= LIMIT and not open_:
            raise ValueError("full")
        return min(count * rate, 3) > 0


    CONDITION = "attribute_not_exists(pk) AND #s = :s"
    ITEM = {"pk": 1, "stage": "STORED"}
    '''
)


CONDITION = "'attribute_not_exists(pk) AND #s = :s'"


def described() -> set[str]:
    return {f"{m.operator}: {m.before} -> {m.after}" for m in mutants("m.py", SOURCE)}


def test_each_operator_makes_the_changes_a_slip_would() -> None:
    assert described() == {
        "constant: 10 -> 11",
        "constant: 0.5 -> 1.5",
        "comparison: count >= LIMIT -> count > LIMIT",
        "and/or: count >= LIMIT and (not open_) -> count >= LIMIT or not open_",
        "not dropped: not open_ -> open_",
        "raise dropped: raise ValueError('full') -> pass",
        "min/max: min(count * rate, 3) -> max(count * rate, 3)",
        "arithmetic: count * rate -> count / rate",
        "constant: 3 -> 4",
        "comparison: min(count * rate, 3) > 0 -> min(count * rate, 3) >= 0",
        "constant: 0 -> 1",
        f"expression: {CONDITION} -> 'attribute_exists(pk) AND #s = :s'",
        f"expression: {CONDITION} -> 'attribute_not_exists(pk) OR #s = :s'",
        f"expression: {CONDITION} -> 'attribute_not_exists(pk) AND #s <> :s'",
        "entry dropped: {'pk': 1, 'stage': 'STORED'} -> {'stage': 'STORED'}",
        "entry dropped: {'pk': 1, 'stage': 'STORED'} -> {'pk': 1}",
        "constant: 1 -> 2",
    }


def test_docstrings_annotations_and_log_calls_are_left_alone() -> None:
    lines = {m.line for m in mutants("m.py", SOURCE)}
    assert 2 not in lines  # the module docstring
    assert 7 not in lines  # the function's docstring
    assert 8 not in lines  # logger.info(...)
    assert all("int" not in m.before and "bool" not in m.before for m in mutants("m.py", SOURCE))


def test_a_mutant_changes_one_node_and_the_rest_of_the_module_is_the_same() -> None:
    for mutant in mutants("m.py", SOURCE):
        mutated = apply(mutant, SOURCE)
        ast.parse(mutated)  # still Python
        assert mutated != ast.unparse(ast.parse(SOURCE)) + "\n", mutant.describe()
        assert mutant.after.replace(" ", "") in mutated.replace(" ", ""), mutant.describe()


def test_every_equivalent_mutant_listed_exists_and_has_a_reason() -> None:
    from tests.mutation.__main__ import ROOT, TARGETS

    keys = {m.key for module in TARGETS for m in mutants(module, (ROOT / module).read_text())}
    stale = [key for key in EQUIVALENT if key not in keys]
    assert not stale, f"equivalent mutants that no longer exist (the code changed): {stale}"
    assert all(len(reason) > 20 for reason in EQUIVALENT.values())


def test_two_edits_of_a_long_expression_are_shown_where_they_change_it() -> None:
    long = (
        "attribute_not_exists(#pk) OR (execution_id = :exec AND #stage = :stored "
        "AND #status = :processing AND attribute_not_exists(cancel_requested))"
    )
    found = mutants("m.py", f"CONDITION = {long!r}\n")
    shown = {f"{m.before} -> {m.after}" for m in found}
    assert len(shown) == len(found)  # no two read (or are keyed) the same
    last = [m for m in found if m.after.endswith("OR attribute_not_exists(cancel_requested))'")]
    assert len(last) == 1 and last[0].before.startswith("...")
    assert all(len(m.before) <= 83 for m in found)  # a window of the text, not all of it

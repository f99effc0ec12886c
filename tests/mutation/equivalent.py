"""Mutants that cannot change behaviour, by key (``Mutant.key``), each with the reason. They are
listed, not counted: a score counts only mutants a test could notice."""

from __future__ import annotations

EQUIVALENT: dict[str, str] = {
    "lambdas/loyalty/domain/points.py <module>: constant: 60 -> 61": (
        "the floor context's precision: 60 and 61 digits are both wider than any line amount "
        "(at most 10 digits and 2 places) times a rate, so net * rate is exact either way"
    ),
}

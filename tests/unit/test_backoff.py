from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from loyalty.backoff import Backoff


def test_ceiling_doubles_until_the_cap() -> None:
    backoff = Backoff(base_seconds=1, cap_seconds=10)
    assert [backoff.ceiling(i) for i in range(6)] == [1, 2, 4, 8, 10, 10]


@given(st.integers(min_value=0, max_value=10_000), st.floats(min_value=0, max_value=1))
def test_full_jitter_stays_between_zero_and_the_ceiling(attempt: int, draw: float) -> None:
    backoff = Backoff(base_seconds=0.5, cap_seconds=60)
    assert 0 <= backoff.delay(attempt, rand=lambda: draw) <= backoff.ceiling(attempt) <= 60

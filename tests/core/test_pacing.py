"""The pacing rule: what one task sends itself under the relay's rate limit."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from worker.core.pacing import per_task_limit, sends_inline, split_for_pacing


@pytest.mark.parametrize(
    ("rate", "limit"),
    [(600.0, 1200), (60.0, 120), (1.0, 2), (0.1, 1), (0.0, 1)],
)
def test_a_task_sends_what_two_minutes_allow_and_never_nothing(rate: float, limit: int) -> None:
    assert per_task_limit(rate) == limit


def test_a_slow_relay_sends_the_first_rows_and_publishes_the_rest() -> None:
    assert split_for_pacing([1, 2, 3, 4, 5], 1.0) == ([1, 2], [3, 4, 5])
    assert sends_inline(2, 1.0) and not sends_inline(3, 1.0)


@given(st.lists(st.integers(), max_size=300), st.floats(min_value=0, max_value=1000))
def test_split_keeps_every_row_once_in_order(ids: list[int], rate: float) -> None:
    now, later = split_for_pacing(ids, rate)
    assert now + later == ids
    assert now or not ids
    assert sends_inline(len(now), rate)

"""Temporary failures are retried by time (a window from the first attempt), not by count."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from worker.core.retry import (
    BACKOFF_CAP,
    JITTER,
    RetryPolicy,
    Verdict,
    backoff,
    decide,
    is_temporary,
)

FIRST = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
POLICY = RetryPolicy(window=timedelta(days=3), base=timedelta(seconds=60))


@pytest.mark.parametrize(
    ("code", "verdict"),
    [
        (250, Verdict.SENT),
        (421, Verdict.RETRY),
        (451, Verdict.RETRY),
        (452, Verdict.RETRY),
        (None, Verdict.RETRY),  # no answer: timeout or dropped connection
        (552, Verdict.RETRY),  # mailbox full (RFC 5321 4.5.3.1.10)
        (550, Verdict.FAILED),
        (554, Verdict.FAILED),
        (553, Verdict.FAILED),
    ],
)
def test_each_answer_leads_to_its_state(code: int | None, verdict: Verdict) -> None:
    decision = decide(
        code, attempts=1, first_attempt_at=FIRST, now=FIRST, policy=POLICY, spread=0.5
    )
    assert decision.verdict is verdict


def test_a_temporary_failure_on_the_twentieth_attempt_is_still_retried_inside_the_window() -> None:
    now = FIRST + timedelta(hours=20)
    decision = decide(451, attempts=20, first_attempt_at=FIRST, now=now, policy=POLICY, spread=0.5)
    assert decision.verdict is Verdict.RETRY
    assert decision.next_attempt_at - now == BACKOFF_CAP  # doubling stops at the cap


def test_a_temporary_failure_fails_with_its_answer_once_the_window_has_passed() -> None:
    now = FIRST + timedelta(days=3) - timedelta(minutes=1)
    decision = decide(451, attempts=80, first_attempt_at=FIRST, now=now, policy=POLICY, spread=0.5)
    assert decision.verdict is Verdict.FAILED
    assert "3 days" in decision.reason


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        decide(451, attempts=1, first_attempt_at=FIRST.replace(tzinfo=None), now=FIRST,
               policy=POLICY, spread=0.5)  # fmt: skip


@given(
    attempts=st.integers(min_value=1, max_value=10_000),
    spread=st.floats(min_value=0.0, max_value=1.0),
)
def test_backoff_stays_within_the_jitter_band_of_the_capped_exponential(
    attempts: int, spread: float
) -> None:
    delay = backoff(attempts, POLICY, spread).total_seconds()
    nominal = min(60 * 2 ** min(attempts - 1, 32), BACKOFF_CAP.total_seconds())
    assert nominal * (1 - JITTER) - 1e-6 <= delay <= nominal * (1 + JITTER) + 1e-6


@given(
    code=st.one_of(st.none(), st.integers(min_value=200, max_value=599)),
    attempts=st.integers(min_value=1, max_value=500),
    elapsed=st.integers(min_value=0, max_value=10 * 24 * 3600),
    spread=st.floats(min_value=0.0, max_value=1.0),
)
def test_a_retry_is_never_scheduled_after_the_window_nor_a_permanent_answer_retried(
    code: int | None, attempts: int, elapsed: int, spread: float
) -> None:
    now = FIRST + timedelta(seconds=elapsed)
    decision = decide(
        code, attempts=attempts, first_attempt_at=FIRST, now=now, policy=POLICY, spread=spread
    )
    if decision.verdict is Verdict.RETRY:
        assert is_temporary(code)
        assert now < decision.next_attempt_at <= FIRST + POLICY.window
    if code is not None and code >= 500 and code != 552:
        assert decision.verdict is Verdict.FAILED

"""When silence about bounces means the bounce path is broken (core.bounce_path)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from worker.core.bounce_path import MIN_SENT, WAIT, BounceTraffic, judge_bounce_path

NOW = datetime(2024, 5, 27, 9, 0, tzinfo=UTC)


def _traffic(**changes: object) -> BounceTraffic:
    base: dict[str, object] = {
        "sent": 120, "first_sent_at": NOW - timedelta(days=3), "reports": 0,
        "last_report_at": None, "refused_at_smtp": 2,
        "bounce_addresses": ("signon+bounce-TOKEN@hrn.example",), "separate_mailbox": False,
    }
    return BounceTraffic(**{**base, **changes})  # type: ignore[arg-type]


def test_much_mail_a_day_ago_and_no_report_is_a_broken_bounce_path() -> None:
    verdict = judge_bounce_path(_traffic(), NOW)
    assert not verdict.ok
    assert "120 emails" in verdict.detail and "2 address(es) were refused" in verdict.detail
    assert "signon+bounce-TOKEN@hrn.example" in verdict.detail


def test_a_report_that_arrived_proves_the_path() -> None:
    verdict = judge_bounce_path(_traffic(reports=3, last_report_at=NOW - timedelta(hours=2)), NOW)
    assert verdict.ok and "3 delivery report(s)" in verdict.detail


@pytest.mark.parametrize("changes", [
    {"sent": MIN_SENT - 1},
    {"first_sent_at": NOW - WAIT + timedelta(minutes=1)},
    {"sent": 0, "first_sent_at": None},
])
def test_too_little_or_too_recent_mail_says_so_without_failing(changes: dict[str, object]) -> None:
    verdict = judge_bounce_path(_traffic(**changes), NOW)
    assert verdict.ok and "too few or too recent" in verdict.detail


def test_a_separate_bounce_mailbox_is_named_in_the_advice() -> None:
    verdict = judge_bounce_path(_traffic(separate_mailbox=True), NOW)
    assert "separate mailbox" in verdict.detail


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        judge_bounce_path(_traffic(), datetime(2024, 5, 27))  # noqa: DTZ001


@given(sent=st.integers(0, 10_000), hours=st.integers(0, 24 * 30), reports=st.integers(0, 50))
def test_it_fails_only_on_enough_old_mail_with_no_report(sent: int, hours: int,
                                                         reports: int) -> None:
    traffic = _traffic(sent=sent, first_sent_at=NOW - timedelta(hours=hours), reports=reports)
    verdict = judge_bounce_path(traffic, NOW)
    assert verdict.ok is not (reports == 0 and sent >= MIN_SENT and timedelta(hours=hours) >= WAIT)

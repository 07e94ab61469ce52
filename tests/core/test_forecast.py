"""The schedule forecast: when each recipient's invitation and reminders really go, in their
own timezone, given quiet hours, min_reminder_gap and the deadline (pure, fixed `now`)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from worker.core.schedule import (
    CampaignPlan,
    InvitationView,
    QuietHours,
    due_at,
    forecast,
    next_open,
)
from worker.core.schedule_report import forecast_lines, forecast_problems, forecast_summary
from worker.core.states import InvitationState

TOKYO = ZoneInfo("Asia/Tokyo")
PENDING = InvitationState.PENDING


def jst(*args: int) -> datetime:
    return datetime(*args, tzinfo=TOKYO)  # type: ignore[misc]


def test_the_reported_trap_a_start_at_0339_jst_with_a_near_deadline_invites_nobody() -> None:
    # The case: 21:00-08:00 quiet hours, started 03:39 JST, deadline minutes later.
    plan = CampaignPlan(
        invite_at=jst(2024, 5, 21, 3, 39), deadline=jst(2024, 5, 21, 3, 50),
        timezone="Asia/Tokyo", reminders_before_deadline=(), max_reminders=0,
    )  # fmt: skip
    views = [InvitationView(i, PENDING) for i in (1, 2)] + [
        InvitationView(3, PENDING, timezone="Europe/London")  # 19:39 BST: not quiet there
    ]
    fc = forecast(plan, views, now=jst(2024, 5, 21, 3, 39))
    assert not fc.ok
    assert fc.uninvitable == 2
    problems = forecast_problems(fc)
    assert len(problems) == 1
    text = problems[0]
    assert "2 recipients: the invitation cannot go before the deadline 2024-05-21 03:50 JST" in text
    assert "the earliest it may go is 2024-05-21 08:00 JST" in text
    assert "quiet_hours: off" in text and "move schedule.deadline after" in text
    lines = forecast_lines(fc)
    assert any("in Europe/London: invitation: 2024-05-21 03:39 JST (19:39" in x for x in lines)
    assert forecast_summary(fc).startswith("WARNING: 2 recipient(s) can never be invited")


def test_a_reminder_the_gap_pushes_past_the_deadline_is_reported() -> None:
    plan = CampaignPlan(
        invite_at=jst(2024, 5, 21, 10), deadline=jst(2024, 5, 21, 15), timezone="Asia/Tokyo",
        reminders_before_deadline=(timedelta(hours=3),), quiet_hours=QuietHours.off(),
    )  # fmt: skip
    fc = forecast(plan, [InvitationView(1, PENDING)], now=jst(2024, 5, 21, 9))
    assert [m.kind for m in fc.groups[0].missed] == ["reminder 1"]
    assert fc.groups[0].mails[0].goes_at == jst(2024, 5, 21, 10)
    (problem,) = forecast_problems(fc)
    assert "the earliest it may go is 2024-05-22 06:00 JST (min_reminder_gap)" in problem
    assert "shorten schedule.min_reminder_gap (now 20 hours)" in problem


def test_quiet_hours_delay_mail_to_their_end_in_the_recipients_own_clock() -> None:
    plan = CampaignPlan(
        invite_at=jst(2024, 5, 21, 22), deadline=jst(2024, 5, 29, 17), timezone="Asia/Tokyo"
    )
    fc = forecast(plan, [InvitationView(1, PENDING)], now=jst(2024, 5, 20))
    invitation, first, second = fc.groups[0].mails
    assert invitation.goes_at == jst(2024, 5, 22, 8) and invitation.why_later == "quiet hours"
    assert first.goes_at == jst(2024, 5, 26, 17) and second.goes_at == jst(2024, 5, 28, 17)
    assert fc.ok


def test_an_invitation_already_sent_forecasts_only_its_remaining_reminders() -> None:
    plan = CampaignPlan(
        invite_at=jst(2024, 5, 21, 10), deadline=jst(2024, 5, 29, 17), timezone="Asia/Tokyo"
    )
    view = InvitationView(1, InvitationState.INVITED, invited_at=jst(2024, 5, 21, 10),
                          reminders_sent=1, last_reminded_at=jst(2024, 5, 26, 17))  # fmt: skip
    fc = forecast(plan, [view], now=jst(2024, 5, 27))
    assert [(m.kind, m.goes_at) for m in fc.groups[0].mails] == [
        ("reminder 2", jst(2024, 5, 28, 17))
    ]
    answered = InvitationView(2, InvitationState.SIGNED)
    assert forecast(plan, [answered], now=jst(2024, 5, 27)).groups == ()


def test_next_open_across_a_dst_change() -> None:
    plan = CampaignPlan(
        invite_at=datetime(2024, 3, 30, tzinfo=UTC), deadline=datetime(2024, 4, 30, tzinfo=UTC),
        timezone="Europe/Paris", quiet_hours=QuietHours(time(1, 0), time(3, 0)),
    )  # fmt: skip
    # 31 March 2024: Paris clocks jump from 02:00 to 03:00; 00:30 UTC is 01:30 CET (quiet).
    opened = next_open(plan, None, datetime(2024, 3, 31, 0, 30, tzinfo=UTC))
    assert opened == datetime(2024, 3, 31, 1, 0, tzinfo=UTC)  # 03:00 CEST


minutes = st.integers(min_value=0, max_value=24 * 60 - 1)


@settings(max_examples=150, deadline=None)
@given(
    start=minutes, end=minutes, invite=st.integers(0, 3 * 24 * 60),
    length=st.integers(1, 6 * 24 * 60), gap=st.integers(1, 30 * 60),
    offsets=st.lists(st.integers(1, 5 * 24 * 60), max_size=3, unique=True),
    tz=st.sampled_from(["Asia/Tokyo", "Europe/Paris", "America/New_York", "UTC"]),
)  # fmt: skip
def test_the_forecast_agrees_with_the_scan_minute_by_minute(
    start: int, end: int, invite: int, length: int, gap: int, offsets: list[int], tz: str
) -> None:
    """Simulate the scan every minute: each mail goes exactly when the forecast says, and a
    mail the forecast calls impossible never goes (a gap of at least one scan interval)."""
    origin = datetime(2024, 5, 20, tzinfo=UTC)
    plan = CampaignPlan(
        invite_at=origin + timedelta(minutes=invite),
        deadline=origin + timedelta(minutes=invite + length), timezone="Asia/Tokyo",
        reminders_before_deadline=tuple(timedelta(minutes=o) for o in offsets),
        max_reminders=len(offsets),
        quiet_hours=QuietHours(time(start // 60, start % 60), time(end // 60, end % 60)),
        min_reminder_gap=timedelta(minutes=gap),
    )  # fmt: skip
    view = InvitationView(1, PENDING, timezone=tz)
    fc = forecast(plan, [view], now=origin)
    expected = [m.goes_at for m in fc.groups[0].mails if m.possible]
    sent: list[datetime] = []
    now = origin
    state, reminders, last = PENDING, 0, None
    while now < plan.deadline + timedelta(minutes=1):
        current = InvitationView(1, state, timezone=tz, invited_at=sent[0] if sent else None,
                                 reminders_sent=reminders, last_reminded_at=last)  # fmt: skip
        due = due_at(plan, [current], now)
        if due.invitations:
            sent.append(now)
            state = InvitationState.INVITED
        elif due.reminders:
            sent.append(now)
            reminders, last = reminders + 1, now
        now += timedelta(minutes=1)
    assert sent == expected

"""The pure schedule: what is due at a fixed `now` (table-driven), plus properties."""

# ruff: noqa: E501  (one case per line reads better than folded tuples)

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from worker.core.schedule import (
    CampaignPlan,
    InvitationView,
    QuietHours,
    Reminder,
    due_at,
    is_quiet,
    next_reminder,
)
from worker.core.states import InvitationState

# Deadline 2024-05-29 17:00 JST = 08:00 UTC; reminders 3 days and 1 day before.
DEADLINE = datetime(2024, 5, 29, 8, 0, tzinfo=UTC)
PLAN = CampaignPlan(
    invite_at=datetime(2024, 5, 21, 1, 0, tzinfo=UTC),  # 10:00 JST
    deadline=DEADLINE,
    timezone="Asia/Tokyo",
    reminders_before_deadline=(timedelta(days=3), timedelta(days=1)),
    max_reminders=2,
    quiet_hours=QuietHours(time(21, 0), time(8, 0)),
)
INVITED_AT = datetime(2024, 5, 21, 1, 0, tzinfo=UTC)
FIRST = DEADLINE - timedelta(days=3)  # 2024-05-26 17:00 JST
SECOND = DEADLINE - timedelta(days=1)  # 2024-05-28 17:00 JST


def invited(**changes: object) -> InvitationView:
    values: dict[str, object] = {
        "id": 1,
        "state": InvitationState.INVITED,
        "invited_at": INVITED_AT,
    }
    values.update(changes)
    return InvitationView(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("case", "now", "view", "expected"),
    [
        ("pending invitation at invite time", PLAN.invite_at, InvitationView(1, InvitationState.PENDING), "invite"),
        ("pending, before invite time", PLAN.invite_at - timedelta(minutes=1), InvitationView(1, InvitationState.PENDING), None),
        # 22:30 JST is inside 21:00-08:00 quiet hours in Tokyo...
        ("pending, quiet hours in Tokyo", datetime(2024, 5, 22, 13, 30, tzinfo=UTC), InvitationView(1, InvitationState.PENDING), None),
        # ...but 15:30 in Berlin, where this organisation is.
        ("pending, daytime in the contact's zone", datetime(2024, 5, 22, 13, 30, tzinfo=UTC), InvitationView(1, InvitationState.PENDING, timezone="Europe/Berlin"), "invite"),
        ("pending, bounced address", PLAN.invite_at, InvitationView(1, InvitationState.PENDING, address_ok=False), None),
        ("invited, before the first reminder", FIRST - timedelta(minutes=1), invited(), None),
        ("invited, first reminder time", FIRST, invited(), 1),
        ("invited, first sent, before the second", SECOND - timedelta(hours=1), invited(reminders_sent=1, last_reminded_at=FIRST), None),
        ("invited, second reminder time", SECOND, invited(reminders_sent=1, last_reminded_at=FIRST), 2),
        ("max reminders reached", SECOND + timedelta(hours=2), invited(reminders_sent=2, last_reminded_at=SECOND), None),
        ("at the deadline", DEADLINE, invited(), None),
        ("first reminder time in quiet hours of the contact", FIRST, invited(timezone="America/New_York"), None),
        ("auto-reply: back later", FIRST, invited(remind_not_before=FIRST + timedelta(hours=5)), None),
        ("auto-reply: back now", FIRST + timedelta(hours=5), invited(remind_not_before=FIRST + timedelta(hours=5), timezone="UTC"), 1),
        ("signed", FIRST, invited(state=InvitationState.SIGNED), None),
        ("declined", FIRST, invited(state=InvitationState.DECLINED), None),
        ("unsubscribed", FIRST, invited(state=InvitationState.UNSUBSCRIBED), None),
        ("bounced", FIRST, invited(state=InvitationState.BOUNCED), None),
        ("question waits for a person", FIRST, invited(state=InvitationState.QUESTION), None),
        ("address bounced while invited", FIRST, invited(address_ok=False), None),
        ("invited late, too soon after the invitation", FIRST, invited(invited_at=FIRST - timedelta(hours=2)), None),
    ],
)  # fmt: skip
def test_what_is_due_at_a_fixed_now(
    case: str, now: datetime, view: InvitationView, expected: object
) -> None:
    due = due_at(PLAN, [view], now)
    if expected == "invite":
        assert due.invitations == [1], case
        assert due.reminders == [], case
    elif expected is None:
        assert due.invitations == [] and due.reminders == [], case
    else:
        assert due.reminders == [Reminder(1, int(expected))], case  # type: ignore[call-overload]


def test_max_reminders_caps_the_reminder_times() -> None:
    plan = CampaignPlan(
        invite_at=PLAN.invite_at,
        deadline=DEADLINE,
        timezone="UTC",
        reminders_before_deadline=(timedelta(days=1), timedelta(days=5), timedelta(days=3)),
        max_reminders=2,
    )
    assert plan.reminder_times() == [DEADLINE - timedelta(days=5), DEADLINE - timedelta(days=3)]
    view = invited(reminders_sent=2, last_reminded_at=DEADLINE - timedelta(days=3), timezone="UTC")
    assert next_reminder(plan, view, DEADLINE - timedelta(hours=12)) is None


def test_deadline_passed_reports_only_the_deadline() -> None:
    due = due_at(PLAN, [InvitationView(1, InvitationState.PENDING), invited(id=2)], DEADLINE)
    assert due.deadline_passed
    assert due.invitations == [] and due.reminders == []


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        due_at(PLAN, [], datetime(2024, 5, 26, 12, 0))  # noqa: DTZ001


STATES = st.sampled_from(list(InvitationState))
ZONES = st.sampled_from(["Asia/Tokyo", "Europe/Berlin", "America/New_York", "UTC", None])
MOMENTS = st.datetimes(
    min_value=datetime(2024, 5, 20),  # noqa: DTZ001 (hypothesis bounds are naive)
    max_value=datetime(2024, 6, 2),  # noqa: DTZ001
    timezones=st.just(UTC),
)


@settings(max_examples=300, deadline=None)
@given(
    now=MOMENTS,
    state=STATES,
    zone=ZONES,
    sent=st.integers(0, 3),
    quiet_start=st.integers(0, 23),
    quiet_end=st.integers(0, 23),
)
def test_never_a_reminder_after_the_deadline_or_in_quiet_hours(
    now: datetime,
    state: InvitationState,
    zone: str | None,
    sent: int,
    quiet_start: int,
    quiet_end: int,
) -> None:
    plan = CampaignPlan(
        invite_at=PLAN.invite_at,
        deadline=DEADLINE,
        timezone="Asia/Tokyo",
        reminders_before_deadline=PLAN.reminders_before_deadline,
        max_reminders=2,
        quiet_hours=QuietHours(time(quiet_start), time(quiet_end)),
    )
    view = InvitationView(1, state, timezone=zone, invited_at=INVITED_AT, reminders_sent=sent)
    due = due_at(plan, [view], now)
    for _ in due.reminders + [None] * len(due.invitations):
        assert now < DEADLINE
        assert not is_quiet(plan, zone, now)
    for reminder in due.reminders:
        assert state is InvitationState.INVITED
        assert reminder.sequence == sent + 1 <= 2

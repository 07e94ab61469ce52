"""What is due at `now`: invitations, reminders and the deadline, decided from plain values."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from worker.core.states import INVITATION_REMINDABLE, InvitationState

# By default a reminder never follows the invitation or the previous reminder closer than this,
# so a campaign opened late (or a beat that was down) does not send two mails in a row.
MIN_REMINDER_GAP = timedelta(hours=20)


@dataclass(frozen=True)
class QuietHours:
    """Local times in which no mail goes out; `start > end` wraps past midnight."""

    start: time = time(21, 0)
    end: time = time(8, 0)

    def contains(self, local: time) -> bool:
        if self.start == self.end:
            return False
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end


@dataclass(frozen=True)
class CampaignPlan:
    """The schedule of one campaign, as plain values."""

    invite_at: datetime
    deadline: datetime
    timezone: str
    reminders_before_deadline: tuple[timedelta, ...] = (timedelta(days=3), timedelta(days=1))
    max_reminders: int = 2
    quiet_hours: QuietHours = QuietHours()
    min_reminder_gap: timedelta = MIN_REMINDER_GAP

    def reminder_times(self) -> list[datetime]:
        """When reminder 1, 2, ... fall due: earliest first, at most `max_reminders`."""
        offsets = sorted(set(self.reminders_before_deadline), reverse=True)
        return [self.deadline - offset for offset in offsets[: self.max_reminders]]


@dataclass(frozen=True)
class InvitationView:
    """What the schedule needs to know about one invitation."""

    id: int
    state: InvitationState
    timezone: str | None = None  # the organisation's; None means the campaign's
    invited_at: datetime | None = None
    reminders_sent: int = 0
    last_reminded_at: datetime | None = None
    remind_not_before: datetime | None = None
    address_ok: bool = True  # False once the address bounced or is suppressed


@dataclass(frozen=True)
class Reminder:
    invitation_id: int
    sequence: int  # 1 for the first reminder


@dataclass(frozen=True)
class Due:
    """The answer for one campaign at one instant."""

    invitations: list[int] = field(default_factory=list)
    reminders: list[Reminder] = field(default_factory=list)
    deadline_passed: bool = False

    @property
    def is_empty(self) -> bool:
        return not (self.invitations or self.reminders or self.deadline_passed)


def is_quiet(plan: CampaignPlan, timezone: str | None, now: datetime) -> bool:
    """True when `now` falls inside the quiet hours of the recipient's local clock."""
    local = now.astimezone(ZoneInfo(timezone or plan.timezone))
    return plan.quiet_hours.contains(local.time())


def is_invitation_due(plan: CampaignPlan, inv: InvitationView, now: datetime) -> bool:
    return (
        inv.state is InvitationState.PENDING
        and inv.address_ok
        and plan.invite_at <= now < plan.deadline
        and not is_quiet(plan, inv.timezone, now)
    )


def next_reminder(plan: CampaignPlan, inv: InvitationView, now: datetime) -> Reminder | None:
    """The reminder due for `inv` at `now`, or None.

    0. Only invitations that were sent and not answered (state invited), to a working address.
    1. Never at or after the deadline, never inside quiet hours in the recipient's timezone.
    2. At most `max_reminders`, each at its own time before the deadline.
    3. Not before `remind_not_before` (an auto-reply said when the person is back).
    4. Not within `min_reminder_gap` of the invitation or the previous reminder.
    """
    if inv.state not in INVITATION_REMINDABLE or not inv.address_ok:  # 0
        return None
    if now >= plan.deadline or is_quiet(plan, inv.timezone, now):  # 1
        return None
    times = plan.reminder_times()
    if inv.reminders_sent >= len(times) or now < times[inv.reminders_sent]:  # 2
        return None
    if inv.remind_not_before is not None and now < inv.remind_not_before:  # 3
        return None
    last = inv.last_reminded_at or inv.invited_at
    if last is not None and now - last < plan.min_reminder_gap:  # 4
        return None
    return Reminder(invitation_id=inv.id, sequence=inv.reminders_sent + 1)


def due_at(plan: CampaignPlan, invitations: Iterable[InvitationView], now: datetime) -> Due:
    """Everything of one open campaign that is due at `now`."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if now >= plan.deadline:
        return Due(deadline_passed=True)
    invite: list[int] = []
    remind: list[Reminder] = []
    for inv in invitations:
        if is_invitation_due(plan, inv, now):
            invite.append(inv.id)
            continue
        reminder = next_reminder(plan, inv, now)
        if reminder is not None:
            remind.append(reminder)
    return Due(invitations=invite, reminders=remind)

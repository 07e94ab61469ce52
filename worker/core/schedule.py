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

    @classmethod
    def off(cls) -> QuietHours:
        """No quiet hours: mail may go at any hour (`quiet_hours: off` in the definition)."""
        return cls(time(0, 0), time(0, 0))

    @property
    def is_off(self) -> bool:
        return self.start == self.end

    def describe(self) -> str:
        if self.is_off:
            return "off (mail may go at any hour)"
        return f"{self.start:%H:%M}-{self.end:%H:%M} (the recipient's local time)"

    def contains(self, local: time) -> bool:
        if self.is_off:
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


# --- The forecast: when each recipient's mail will really go, stated before anything is sent ---


def next_open(plan: CampaignPlan, timezone: str | None, moment: datetime) -> datetime:
    """The first instant at or after `moment` outside the quiet hours of the recipient's clock."""
    quiet = plan.quiet_hours
    tz = ZoneInfo(timezone or plan.timezone)
    for _ in range(4):  # a DST change can land the end inside the hours once more
        local = moment.astimezone(tz)
        if not quiet.contains(local.time()):
            return moment
        day = local.date()
        if quiet.start > quiet.end and local.time() >= quiet.start:
            day += timedelta(days=1)  # wraps past midnight: ends tomorrow morning
        end = datetime.combine(day, quiet.end, tzinfo=tz)
        moment = max(end.astimezone(moment.tzinfo), moment + timedelta(seconds=1))
    return moment


@dataclass(frozen=True)
class PlannedMail:
    """One email of one recipient: when it is scheduled, and when it can really go (or None)."""

    kind: str  # "invitation" or "reminder N"
    scheduled: datetime
    goes_at: datetime  # the first instant it may go (at or after the deadline: never)
    possible: bool  # False: it cannot go before the deadline (or what it follows cannot)
    why_later: str = ""  # what pushed it past `scheduled` ("quiet hours", "min_reminder_gap")


@dataclass(frozen=True)
class RecipientForecast:
    timezone: str
    invitation_ids: tuple[int, ...]
    mails: tuple[PlannedMail, ...]

    @property
    def missed(self) -> list[PlannedMail]:
        return [m for m in self.mails if not m.possible]


@dataclass(frozen=True)
class Forecast:
    """Every recipient's mail, grouped where the times are the same (usually by timezone)."""

    plan: CampaignPlan
    now: datetime
    groups: tuple[RecipientForecast, ...]

    @property
    def ok(self) -> bool:
        return not any(g.missed for g in self.groups)

    @property
    def uninvitable(self) -> int:
        """Recipients whose invitation cannot go before the deadline."""
        return sum(
            len(g.invitation_ids)
            for g in self.groups
            if any(m.kind == "invitation" for m in g.missed)
        )

    @property
    def reminders_missed(self) -> int:
        return sum(
            len(g.invitation_ids) * sum(1 for m in g.missed if m.kind != "invitation")
            for g in self.groups
        )


def _plan_one(plan: CampaignPlan, inv: InvitationView, now: datetime) -> tuple[PlannedMail, ...]:
    """The mails still to come for one invitation, simulated the way `due_at` decides them.

    0. Only pending (not yet invited) or invited (remindable) invitations to a working address.
    1. The invitation: at invite_at or now, whichever is later, pushed past the quiet hours.
    2. Reminder N: at its time before the deadline, but not within min_reminder_gap of the
       previous mail nor before remind_not_before, pushed past the quiet hours.
    3. Anything that lands at or after the deadline cannot go (and nor can what follows it).
    """
    if not inv.address_ok:  # 0
        return ()
    mails: list[PlannedMail] = []
    blocked = False
    last: datetime | None = None
    if inv.state is InvitationState.PENDING:  # 1
        scheduled = max(plan.invite_at, now)
        goes = next_open(plan, inv.timezone, scheduled)
        blocked = goes >= plan.deadline
        why = "quiet hours" if goes != scheduled else ""
        mails.append(PlannedMail("invitation", scheduled, goes, not blocked, why))
        last = goes
        sent = 0
    elif inv.state in INVITATION_REMINDABLE:
        last = inv.last_reminded_at or inv.invited_at
        sent = inv.reminders_sent
    else:
        return ()
    for index, at in enumerate(plan.reminder_times()[sent:], start=sent + 1):  # 2
        earliest = max(at, now)
        why = ""
        if last is not None and last + plan.min_reminder_gap > earliest:
            earliest, why = last + plan.min_reminder_gap, "min_reminder_gap"
        if inv.remind_not_before is not None and inv.remind_not_before > earliest:
            earliest, why = inv.remind_not_before, "the recipient is away"
        goes = next_open(plan, inv.timezone, earliest)
        if goes != earliest:
            why = f"{why} and quiet hours" if why else "quiet hours"
        blocked = blocked or goes >= plan.deadline  # 3
        mails.append(PlannedMail(f"reminder {index}", at, goes, not blocked, why))
        last = goes
    return tuple(mails)


def forecast(plan: CampaignPlan, invitations: Iterable[InvitationView], now: datetime) -> Forecast:
    """When every remaining invitation and reminder will actually go, from `now` on."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    grouped: dict[tuple[str, tuple[PlannedMail, ...]], list[int]] = {}
    for inv in invitations:
        mails = _plan_one(plan, inv, now)
        if mails:
            grouped.setdefault((inv.timezone or plan.timezone, mails), []).append(inv.id)
    groups = tuple(
        RecipientForecast(tz, tuple(ids), mails)
        for (tz, mails), ids in sorted(grouped.items(), key=lambda kv: (kv[0][0], kv[1][0]))
    )
    return Forecast(plan=plan, now=now, groups=groups)

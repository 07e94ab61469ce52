"""The due-scan's reads: only the invitations that may be due, in pages, through ix_invitation_due.

SQL narrows the rows to candidates (pending while the invitation window is open; invited rows
short of the reminder number whose time has come, past their gap; not handed out already;
a working address); the pure `worker.core.schedule.due_at` then decides per row (quiet hours
in the recipient's own clock). At 100k or 1M invitations with nothing due a tick reads nothing.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from worker.core import schedule
from worker.core.states import INVITATION_REMINDABLE, InvitationState
from worker.models import Contact, Invitation, Organisation, Suppression

PAGE = 1000


# What the schedule's view of an invitation is read from, in `invitation_view`'s order.
VIEW_COLUMNS = (
    Invitation.id,
    Invitation.state,
    Organisation.timezone,
    Invitation.invited_at,
    Invitation.reminders_sent,
    Invitation.last_reminded_at,
    Invitation.remind_not_before,
)


def invitation_view(row: Sequence[Any], *, address_ok: bool = True) -> schedule.InvitationView:
    """A row that starts with `VIEW_COLUMNS`, as the schedule's view of the invitation."""
    return schedule.InvitationView(
        id=row[0],
        state=InvitationState(row[1]),
        timezone=row[2],
        invited_at=row[3],
        reminders_sent=row[4],
        last_reminded_at=row[5],
        remind_not_before=row[6],
        address_ok=address_ok,
    )


def _candidates(plan: schedule.CampaignPlan, now: datetime) -> list[Any]:
    """Per kind of due mail, the SQL condition of the rows that may be due at `now`."""
    if now >= plan.deadline:
        return []
    conditions: list[Any] = []
    if plan.invite_at <= now:
        conditions.append(Invitation.state == InvitationState.PENDING.value)
    times = plan.reminder_times()
    come = sum(1 for t in times if t <= now)  # reminders whose time has come
    if come:
        conditions.append(
            Invitation.state.in_(sorted(s.value for s in INVITATION_REMINDABLE))
            & (Invitation.reminders_sent < come)
            & or_(Invitation.remind_not_before.is_(None), Invitation.remind_not_before <= now)
            & (
                func.coalesce(Invitation.last_reminded_at, Invitation.invited_at)
                <= now - plan.min_reminder_gap
            )
        )
    return conditions


def candidate_query(
    campaign_id: int, condition: Any, now: datetime, after_id: int, limit: int
) -> Any:
    """One page of candidate rows (as the schedule's views need them), in id order."""
    suppressed = select(Suppression.id).where(Suppression.email == func.lower(Contact.email))
    return (
        select(*VIEW_COLUMNS)
        .join(Contact, Contact.id == Invitation.contact_id)
        .join(Organisation, Organisation.id == Invitation.organisation_id)
        .where(
            Invitation.campaign_id == campaign_id,
            condition,
            or_(Invitation.dispatch_until.is_(None), Invitation.dispatch_until < now),
            Contact.address_state != "bounced",
            ~suppressed.exists(),
            Invitation.id > after_id,
        )
        .order_by(Invitation.id)
        .limit(limit)
    )


def candidate_pages(
    session: Session,
    campaign_id: int,
    plan: schedule.CampaignPlan,
    now: datetime,
    *,
    page: int = PAGE,
    max_rows: int,
) -> Iterator[list[schedule.InvitationView]]:
    """Pages of candidates for every kind of due mail, at most `max_rows` rows read in all."""
    left = max_rows
    for condition in _candidates(plan, now):
        after = 0
        while left > 0:
            rows = session.execute(
                candidate_query(campaign_id, condition, now, after, min(page, left))
            ).all()
            if not rows:
                break
            left -= len(rows)
            after = rows[-1][0]
            yield [invitation_view(r) for r in rows]
            if len(rows) < page:
                break


def due_in_campaign(
    session: Session,
    campaign_id: int,
    plan: schedule.CampaignPlan,
    now: datetime,
    *,
    budget: int,
    page: int = PAGE,
) -> schedule.Due:
    """What is due now in one open campaign, at most `budget` emails (the rest waits a tick)."""
    invitations: list[int] = []
    reminders: list[schedule.Reminder] = []
    # Read at most a few budgets of candidates: rows in quiet hours are read, but not forever.
    for views in candidate_pages(session, campaign_id, plan, now, page=page, max_rows=4 * budget):
        due = schedule.due_at(plan, views, now)
        invitations += due.invitations
        reminders += due.reminders
        if len(invitations) + len(reminders) >= budget:
            break
    keep = max(0, budget - len(invitations))
    return schedule.Due(invitations=invitations[:budget], reminders=reminders[:keep])


def outstanding(session: Session, now: datetime) -> int:
    """Invitations handed to a task that has not taken them yet (their marker is live)."""
    return int(session.scalar(select(func.count()).where(Invitation.dispatch_until > now)) or 0)


def mark_dispatched(session: Session, ids: Sequence[int], until: datetime) -> set[int]:
    """The scan hands these rows out: later scans skip them until `until` (a lost task's rows
    come back then); `invite`/`remind` clear the marker when they take the rows. Rows another
    transaction holds (a worker busy with them, or one cut off by the network until the
    server drops it) are skipped, never waited for. Returns the ids marked."""
    marked: set[int] = set()
    for start in range(0, len(ids), 5000):
        free = (
            select(Invitation.id)
            .where(Invitation.id.in_(ids[start : start + 5000]))
            .with_for_update(skip_locked=True)
        )
        marked.update(
            session.scalars(
                update(Invitation)
                .where(Invitation.id.in_(free))
                .values(dispatch_until=until)
                .returning(Invitation.id)
                .execution_options(synchronize_session=False)
            )
        )
    return marked


def dispatch_budget(rate_per_minute: int, window: timedelta) -> int:
    """How many emails may stand handed out at once: what the relay can take in one window."""
    return max(1, int(rate_per_minute * window.total_seconds() / 60))

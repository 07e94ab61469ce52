"""The periodic scan: find what is due (invitations, reminders, deadlines, stalled mail) and do it.

`plan_scan` reads the candidate rows (`worker.actions.due`) and asks the pure
`worker.core.schedule` what is due; `invite` and `remind` (`worker.actions.invite`) turn due
invitations into outbox rows in one transaction each; `scan_due` does all of it inline (the
CLI, tests, small installations). The "scan.due" task fans the work out.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from worker.actions import audit, due
from worker.actions.beat import beat_heartbeat
from worker.actions.invite import PrepareFn, Queued, default_prepare, invite, remind
from worker.actions.outbox import due_for_redrive
from worker.core import schedule
from worker.core.audit_actions import AuditAction
from worker.core.durations import parse_duration
from worker.core.retry import RetryPolicy
from worker.core.states import (
    CAMPAIGN_TRANSITIONS,
    CampaignState,
    InvitationState,
)
from worker.models import Campaign, Contact, Invitation, Organisation, Suppression

ACTOR = "scan"
__all__ = ["PrepareFn", "Queued", "default_prepare", "invite", "plan_scan", "remind", "scan_due"]


@dataclass
class CampaignWork:
    campaign_id: int
    invitations: list[int] = field(default_factory=list)
    reminders: list[schedule.Reminder] = field(default_factory=list)


@dataclass
class ScanPlan:
    work: list[CampaignWork] = field(default_factory=list)
    closed: list[int] = field(default_factory=list)  # moved to closing by this scan
    deliver: list[int] = field(default_factory=list)  # closing/delivering: prepare delivery
    redrive: list[int] = field(default_factory=list)  # outbox ids to send again


def campaign_plan(campaign: Campaign) -> schedule.CampaignPlan:
    """The schedule part of a campaign row and its stored definition, as plain values."""
    definition: dict[str, Any] = campaign.definition or {}
    sched: dict[str, Any] = definition.get("schedule") or {}
    offsets = sched.get("reminders_before_deadline")
    return schedule.CampaignPlan(
        invite_at=campaign.invite_at,
        deadline=campaign.deadline,
        timezone=campaign.timezone,
        reminders_before_deadline=(
            tuple(parse_duration(offset) for offset in offsets)
            if offsets is not None
            else schedule.CampaignPlan.reminders_before_deadline
        ),
        max_reminders=int(definition.get("max_reminders", 2)),
        quiet_hours=_quiet_hours(sched),
        min_reminder_gap=(
            parse_duration(sched["min_reminder_gap"])
            if sched.get("min_reminder_gap") is not None
            else schedule.MIN_REMINDER_GAP
        ),
    )


def _quiet_hours(sched: dict[str, Any]) -> schedule.QuietHours:
    """Stored quiet hours: absent means the default, null means off (`quiet_hours: off`)."""
    from datetime import time

    if "quiet_hours" not in sched:
        return schedule.QuietHours()
    quiet = sched["quiet_hours"]
    if quiet is None:
        return schedule.QuietHours.off()
    defaults = schedule.QuietHours()
    start, end = quiet.get("start"), quiet.get("end")
    return schedule.QuietHours(
        start=time.fromisoformat(start) if isinstance(start, str) else defaults.start,
        end=time.fromisoformat(end) if isinstance(end, str) else defaults.end,
    )


def close_past_deadline(session: Session, now: datetime) -> list[int]:
    """Open or paused campaigns past their deadline move to closing; each exactly once."""
    candidates = session.execute(
        select(Campaign.id, Campaign.state).where(
            Campaign.state.in_([CampaignState.OPEN.value, CampaignState.PAUSED.value]),
            Campaign.deadline <= now,
        )
    ).all()
    closed: list[int] = []
    for campaign_id, state in candidates:
        moved = audit.move_where(
            session,
            Campaign,
            CAMPAIGN_TRANSITIONS,
            (CampaignState.OPEN, CampaignState.PAUSED),
            CampaignState.CLOSING,
            Campaign.id == campaign_id,
            Campaign.deadline <= now,
            values={"frozen_at": now, "updated_at": now},
        )
        if moved == 1:  # we did it, not a scan running beside us
            closed.append(campaign_id)
            audit.record(
                session,
                actor=ACTOR,
                entity="campaign",
                entity_id=campaign_id,
                action=AuditAction.DEADLINE_PASSED,
                campaign_id=campaign_id,
                from_state=state,
                to_state=CampaignState.CLOSING.value,
                detail={"frozen_at": now.isoformat()},
            )
    return closed


def invitation_views(session: Session, campaign_id: int) -> list[schedule.InvitationView]:
    suppressed = (
        select(Suppression.id)
        .where(func.lower(Suppression.email) == func.lower(Contact.email))
        .exists()
    )
    rows = session.execute(
        select(*due.VIEW_COLUMNS, (Contact.address_state != "bounced") & ~suppressed)
        .join(Contact, Contact.id == Invitation.contact_id)
        .join(Organisation, Organisation.id == Invitation.organisation_id)
        .where(
            Invitation.campaign_id == campaign_id,
            Invitation.state.in_([InvitationState.PENDING.value, InvitationState.INVITED.value]),
        )
        .order_by(Invitation.id)
    ).all()
    return [due.invitation_view(r, address_ok=bool(r[7])) for r in rows]


def plan_scan(
    session: Session,
    *,
    now: datetime,
    lease: timedelta,
    policy: RetryPolicy | None = None,
    budget: int = 1_000_000,
    dispatch_until: datetime | None = None,
) -> ScanPlan:
    """One scan's decisions, in the caller's transaction (commit it before publishing).

    With `dispatch_until` the planned invitations are marked handed out until then (see
    `worker.actions.due`), and no more than `budget` emails stand handed out at once.
    """
    plan = ScanPlan()
    # 1. Deadlines first: a campaign past its deadline sends nothing more.
    plan.closed = close_past_deadline(session, now)
    # 2. What is due in every open campaign: indexed reads of the candidate rows only.
    left = budget - (due.outstanding(session, now) if dispatch_until is not None else 0)
    for campaign in session.scalars(
        select(Campaign).where(Campaign.state == CampaignState.OPEN.value).order_by(Campaign.id)
    ):
        if left <= 0:
            break
        found = due.due_in_campaign(session, campaign.id, campaign_plan(campaign), now, budget=left)
        if dispatch_until is not None and (found.invitations or found.reminders):
            ids = found.invitations + [r.invitation_id for r in found.reminders]
            marked = due.mark_dispatched(session, ids, dispatch_until)
            found = schedule.Due(
                invitations=[i for i in found.invitations if i in marked],
                reminders=[r for r in found.reminders if r.invitation_id in marked],
            )
        if found.invitations or found.reminders:
            left -= len(found.invitations) + len(found.reminders)
            plan.work.append(CampaignWork(campaign.id, found.invitations, found.reminders))
    # 3. Campaigns whose final letter is being prepared or delivered (that task is idempotent).
    plan.deliver = list(
        session.scalars(
            select(Campaign.id).where(
                Campaign.state.in_([CampaignState.CLOSING.value, CampaignState.DELIVERING.value])
            )
        )
    )
    # 4. Mail that stalled: retries whose time came, lost tasks, expired leases.
    plan.redrive = due_for_redrive(
        session,
        now=now,
        lease=lease,
        policy=policy,
        dispatch_window=(dispatch_until - now) if dispatch_until is not None else None,
    )
    beat_heartbeat(
        session,
        now,
        {
            "invitations": sum(len(w.invitations) for w in plan.work),
            "reminders": sum(len(w.reminders) for w in plan.work),
            "closed": plan.closed,
            "redrive": len(plan.redrive),
        },
    )
    return plan


def scan_due(
    session_factory: Callable[[], Session],
    *,
    now: datetime,
    secret: bytes,
    lease: timedelta,
    policy: RetryPolicy | None = None,
    chunk: int = 200,
    prepare: PrepareFn | None = None,
) -> ScanPlan:
    """The whole scan inline: plan, then invitations and reminders in chunked transactions.

    Outbox rows are published after each commit; deliveries and re-drives are left to the
    caller (see `worker.tasks.sending.scan_due`), which also publishes them after commit.
    """
    with session_factory() as session, session.begin():
        plan = plan_scan(session, now=now, lease=lease, policy=policy)
    options = {"now": now, "secret": secret, "prepare": prepare}
    for work in plan.work:
        _in_chunks(session_factory, invite, work.campaign_id, work.invitations, chunk, options)
        _in_chunks(session_factory, remind, work.campaign_id, work.reminders, chunk, options)
    return plan


def _in_chunks(
    session_factory: Callable[[], Session],
    queue: Callable[..., Queued],
    campaign_id: int,
    items: Sequence[Any],
    chunk: int,
    options: dict[str, Any],
) -> None:
    """`queue` (`invite` or `remind`) over `items`, `chunk` at a time, a transaction each."""
    for start in range(0, len(items), chunk):
        with session_factory() as session, session.begin():
            queue(session, campaign_id, items[start : start + chunk], **options)

"""The periodic scan: find what is due (invitations, reminders, deadlines, stalled mail) and do it.

`plan_scan` reads the database and asks the pure `worker.core.schedule` what is due; `invite`
and `remind` turn due invitations into outbox rows in one transaction each; `scan_due` does
all of it inline (the CLI, tests, small installations). The "scan.due" task fans the work out.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, joinedload

from worker.actions import audit
from worker.actions.outbox import (
    ClaimAs,
    Claimed,
    Prepared,
    QueueItem,
    due_for_redrive,
    publish_after_commit,
    queue_claimed,
    queue_emails,
)
from worker.core import schedule
from worker.core.durations import parse_duration
from worker.core.states import (
    INVITATION_TRANSITIONS,
    CampaignState,
    InvitationState,
    check_transition,
)
from worker.models import Campaign, Contact, Heartbeat, Invitation, Organisation, Suppression

ACTOR = "scan"
PrepareFn = Callable[..., Prepared]


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


def default_prepare() -> PrepareFn:
    from worker.mail.outgoing import prepare_contact_email

    return prepare_contact_email


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


def beat_heartbeat(session: Session, now: datetime, detail: dict[str, Any] | None = None) -> None:
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(Heartbeat).values(name="beat", at=now, detail=detail)
    session.execute(
        stmt.on_conflict_do_update(index_elements=["name"], set_={"at": now, "detail": detail})
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
        result = cast(
            "CursorResult[Any]",
            session.execute(
                update(Campaign)
                .where(
                    Campaign.id == campaign_id,
                    Campaign.state.in_([CampaignState.OPEN.value, CampaignState.PAUSED.value]),
                    Campaign.deadline <= now,
                )
                .values(state=CampaignState.CLOSING.value, frozen_at=now, updated_at=now)
                .execution_options(synchronize_session=False),
            ),
        )
        if result.rowcount == 1:  # we did it, not a scan running beside us
            closed.append(campaign_id)
            audit.record(
                session,
                actor=ACTOR,
                entity="campaign",
                entity_id=campaign_id,
                action="deadline_passed",
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
        select(
            Invitation.id,
            Invitation.state,
            Organisation.timezone,
            Invitation.invited_at,
            Invitation.reminders_sent,
            Invitation.last_reminded_at,
            Invitation.remind_not_before,
            (Contact.address_state != "bounced") & ~suppressed,
        )
        .join(Contact, Contact.id == Invitation.contact_id)
        .join(Organisation, Organisation.id == Invitation.organisation_id)
        .where(
            Invitation.campaign_id == campaign_id,
            Invitation.state.in_([InvitationState.PENDING.value, InvitationState.INVITED.value]),
        )
        .order_by(Invitation.id)
    ).all()
    return [
        schedule.InvitationView(
            id=r[0],
            state=InvitationState(r[1]),
            timezone=r[2],
            invited_at=r[3],
            reminders_sent=r[4],
            last_reminded_at=r[5],
            remind_not_before=r[6],
            address_ok=bool(r[7]),
        )
        for r in rows
    ]


def plan_scan(session: Session, *, now: datetime, lease: timedelta, max_attempts: int) -> ScanPlan:
    """One scan's decisions, in the caller's transaction (commit it before publishing)."""
    plan = ScanPlan()
    # 1. Deadlines first: a campaign past its deadline sends nothing more.
    plan.closed = close_past_deadline(session, now)
    # 2. What is due in every open campaign.
    for campaign in session.scalars(
        select(Campaign).where(Campaign.state == CampaignState.OPEN.value).order_by(Campaign.id)
    ):
        due = schedule.due_at(campaign_plan(campaign), invitation_views(session, campaign.id), now)
        if due.invitations or due.reminders:
            plan.work.append(CampaignWork(campaign.id, due.invitations, due.reminders))
    # 3. Campaigns whose final letter is being prepared or delivered (that task is idempotent).
    plan.deliver = list(
        session.scalars(
            select(Campaign.id).where(
                Campaign.state.in_([CampaignState.CLOSING.value, CampaignState.DELIVERING.value])
            )
        )
    )
    # 4. Mail that stalled: retries whose time came, lost tasks, expired leases.
    plan.redrive = due_for_redrive(session, now=now, lease=lease, max_attempts=max_attempts)
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


def _open_campaign(session: Session, campaign_id: int) -> Campaign | None:
    campaign = session.get(Campaign, campaign_id)
    if campaign is None or campaign.state != CampaignState.OPEN.value:
        return None
    return campaign


def _lock_invitations(session: Session, ids: Sequence[int], state: InvitationState) -> Any:
    """The invitations still in `state`, with contact and organisation (one query), locked;
    rows another transaction holds are skipped (that one is handling them)."""
    return session.scalars(
        select(Invitation)
        .where(Invitation.id.in_(ids), Invitation.state == state.value)
        .options(
            joinedload(Invitation.contact, innerjoin=True),
            joinedload(Invitation.organisation, innerjoin=True),
        )
        .order_by(Invitation.id)
        .with_for_update(skip_locked=True, of=Invitation)
    ).all()


@dataclass
class Queued:
    """What one invite/remind call queued: the new outbox ids and, when the rows were created
    claimed (`claim=`), those the caller must now send with `outbox.send_claimed`."""

    outbox_ids: list[int] = field(default_factory=list)
    claimed: list[Claimed] = field(default_factory=list)


def _queue(
    session: Session,
    invitations: Sequence[Invitation],
    items: Sequence[QueueItem],
    claim: ClaimAs | None,
) -> tuple[list[tuple[Invitation, int]], Queued]:
    if claim is None:
        ids = queue_emails(session, items)
        claimed: list[Claimed] = []
    else:
        ids, claimed = queue_claimed(session, items, claim)
    done = [(inv, oid) for inv, oid in zip(invitations, ids, strict=True) if oid is not None]
    queued = Queued([oid for _, oid in done], claimed)
    if claim is None:  # claimed rows are sent by the caller, not by an "outbox.send" task
        publish_after_commit(session, queued.outbox_ids)
    return done, queued


def invite(
    session: Session,
    campaign_id: int,
    invitation_ids: Sequence[int],
    *,
    now: datetime,
    secret: bytes,
    prepare: PrepareFn | None = None,
    claim: ClaimAs | None = None,
) -> Queued:
    """Queue the invitation emails of these pending invitations and mark them invited.

    Runs in the caller's transaction; the "outbox.send" tasks go out after it commits (with
    `claim`, none: the caller sends the claimed rows itself once it has committed). An
    invitation another scan already took (locked, or no longer pending) is skipped.
    """
    campaign = _open_campaign(session, campaign_id)
    if campaign is None:
        return Queued()
    prepare = prepare or default_prepare()
    invitations = [
        inv
        for inv in _lock_invitations(session, invitation_ids, InvitationState.PENDING)
        if inv.contact.address_state != "bounced"
    ]
    items = [
        QueueItem(
            campaign_id=campaign.id,
            kind="invitation",
            sequence=0,
            prepared=prepare(campaign, inv, "invitation", 0, secret=secret, now=now),
            contact_id=inv.contact_id,
            invitation_id=inv.id,
        )
        for inv in invitations
    ]
    done, queued = _queue(session, invitations, items, claim)
    # An invitation whose row already existed was handled before: it is left as it is.
    _mark(
        session,
        campaign.id,
        done,
        InvitationState.PENDING,
        {"state": InvitationState.INVITED.value, "invited_at": now, "updated_at": now},
        lambda inv, outbox_id: {
            "action": "invited",
            "from_state": InvitationState.PENDING.value,
            "to_state": InvitationState.INVITED.value,
            "detail": {"outbox_id": outbox_id},
        },
    )
    return queued


def _mark(
    session: Session,
    campaign_id: int,
    done: Sequence[tuple[Invitation, int]],
    state: InvitationState,
    values: dict[str, Any],
    audit_entry: Callable[[Invitation, int], dict[str, Any]],
) -> None:
    """Update the invitations whose email was queued (one UPDATE) and audit each (one INSERT).

    The rows are locked by `_lock_invitations`, so the state they were read in still holds;
    the UPDATE checks it again all the same. Objects in the session see the new values.
    """
    if not done:
        return
    target = values.get("state")
    if target is not None:
        check_transition(INVITATION_TRANSITIONS, state, InvitationState(target))
    session.execute(
        update(Invitation)
        .where(Invitation.id.in_([inv.id for inv, _ in done]), Invitation.state == state.value)
        .values(**values)
        .execution_options(synchronize_session="evaluate")
    )
    audit.record_many(
        session,
        [
            {
                "actor": ACTOR,
                "entity": Invitation.__tablename__,
                "entity_id": inv.id,
                "campaign_id": campaign_id,
                **audit_entry(inv, outbox_id),
            }
            for inv, outbox_id in done
        ],
    )


def remind(
    session: Session,
    campaign_id: int,
    reminders: Sequence[schedule.Reminder],
    *,
    now: datetime,
    secret: bytes,
    prepare: PrepareFn | None = None,
    claim: ClaimAs | None = None,
) -> Queued:
    """Queue reminder number `sequence` for each invitation still waiting for an answer
    (sent as `invite` describes)."""
    campaign = _open_campaign(session, campaign_id)
    if campaign is None:
        return Queued()
    prepare = prepare or default_prepare()
    wanted = {r.invitation_id: r.sequence for r in reminders}
    invitations = [
        inv
        for inv in _lock_invitations(session, list(wanted), InvitationState.INVITED)
        if inv.reminders_sent + 1 == wanted[inv.id] and inv.contact.address_state != "bounced"
    ]
    items = [
        QueueItem(
            campaign_id=campaign.id,
            kind="reminder",
            sequence=wanted[inv.id],
            prepared=prepare(campaign, inv, "reminder", wanted[inv.id], secret=secret, now=now),
            contact_id=inv.contact_id,
            invitation_id=inv.id,
        )
        for inv in invitations
    ]
    done, queued = _queue(session, invitations, items, claim)
    # One UPDATE per reminder number (a batch nearly always holds a single one).
    for sequence in sorted({wanted[inv.id] for inv, _ in done}):
        _mark(
            session,
            campaign.id,
            [(inv, oid) for inv, oid in done if wanted[inv.id] == sequence],
            InvitationState.INVITED,
            {"reminders_sent": sequence, "last_reminded_at": now, "updated_at": now},
            lambda inv, outbox_id: {
                "action": "reminded",
                "detail": {"sequence": wanted[inv.id], "outbox_id": outbox_id},
            },
        )
    return queued


def scan_due(
    session_factory: Callable[[], Session],
    *,
    now: datetime,
    secret: bytes,
    lease: timedelta,
    max_attempts: int,
    chunk: int = 200,
    prepare: PrepareFn | None = None,
) -> ScanPlan:
    """The whole scan inline: plan, then invitations and reminders in chunked transactions.

    Outbox rows are published after each commit; deliveries and re-drives are left to the
    caller (see `worker.tasks.sending.scan_due`), which also publishes them after commit.
    """
    with session_factory() as session, session.begin():
        plan = plan_scan(session, now=now, lease=lease, max_attempts=max_attempts)
    for work in plan.work:
        for start in range(0, len(work.invitations), chunk):
            with session_factory() as session, session.begin():
                invite(
                    session,
                    work.campaign_id,
                    work.invitations[start : start + chunk],
                    now=now,
                    secret=secret,
                    prepare=prepare,
                )
        for start in range(0, len(work.reminders), chunk):
            with session_factory() as session, session.begin():
                remind(
                    session,
                    work.campaign_id,
                    work.reminders[start : start + chunk],
                    now=now,
                    secret=secret,
                    prepare=prepare,
                )
    return plan

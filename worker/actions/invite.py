"""Turn due invitations into outbox rows: the invitation email, or reminder number N.

Each call runs in the caller's transaction, locks the invitations it takes (skipping rows
another transaction holds), queues their emails and moves the invitations on, all at once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import select, update
from sqlalchemy.orm import Session, joinedload

from worker.actions import audit
from worker.actions.outbox import (
    ClaimAs,
    Claimed,
    Prepared,
    QueueItem,
    publish_after_commit,
    queue_claimed,
    queue_emails,
)
from worker.actions.review import open_review
from worker.core import schedule
from worker.core.audit_actions import AuditAction
from worker.core.states import (
    INVITATION_TRANSITIONS,
    CampaignState,
    InvitationState,
    ReviewState,
    check_transition,
)
from worker.models import Campaign, Invitation, ReviewItem

ACTOR = "scan"
log = structlog.get_logger(__name__)
PrepareFn = Callable[..., Prepared]


def default_prepare() -> PrepareFn:
    from worker.mail.outgoing import prepare_contact_email

    return prepare_contact_email


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
    invitations, items = _prepare_each(
        session, campaign, invitations, "invitation", {}, prepare, secret=secret, now=now
    )
    done, queued = _queue(session, invitations, items, claim)
    # An invitation whose row already existed was handled before: it is left as it is.
    _mark(
        session,
        campaign.id,
        done,
        InvitationState.PENDING,
        {
            "state": InvitationState.INVITED.value,
            "invited_at": now,
            "updated_at": now,
            "dispatch_until": None,
        },
        lambda inv, outbox_id: {
            "action": AuditAction.INVITED,
            "from_state": InvitationState.PENDING.value,
            "to_state": InvitationState.INVITED.value,
            "detail": {"outbox_id": outbox_id},
        },
    )
    return queued


def _prepare_each(
    session: Session,
    campaign: Campaign,
    invitations: Sequence[Invitation],
    kind: str,
    sequences: dict[int, int],
    prepare: PrepareFn,
    *,
    secret: bytes,
    now: datetime,
) -> tuple[list[Invitation], list[QueueItem]]:
    """Render each email on its own: one that cannot be rendered is left out of the batch,
    stays as it is, and is put before the lead once (render_failed); the others go."""
    kept: list[Invitation] = []
    items: list[QueueItem] = []
    for inv in invitations:
        sequence = sequences.get(inv.id, 0)
        try:
            prepared = prepare(campaign, inv, kind, sequence, secret=secret, now=now)
        except Exception as exc:  # a bad name or template hits this one email, not the batch
            render_failed(session, campaign, inv, kind, exc)
            continue
        kept.append(inv)
        items.append(
            QueueItem(
                campaign_id=campaign.id,
                kind=kind,
                sequence=sequence,
                prepared=prepared,
                contact_id=inv.contact_id,
                invitation_id=inv.id,
            )
        )
    return kept, items


def render_failed(
    session: Session, campaign: Campaign, inv: Invitation, kind: str, exc: Exception
) -> None:
    """Name the email that failed and why, in the review queue (once per invitation)."""
    reason = (
        f"{kind} to {inv.contact.email} ({inv.organisation.key}) could not be rendered: "
        f"{type(exc).__name__}: {exc}. Fix the contact or the template; it is retried at "
        "the next scan and this item can then be resolved."
    )[:2000]
    log.warning("invite.render_failed", invitation_id=inv.id, kind=kind, error=str(exc)[:300])
    already = session.scalar(
        select(ReviewItem.id).where(
            ReviewItem.invitation_id == inv.id,
            ReviewItem.state == ReviewState.OPEN.value,
            ReviewItem.reason.startswith(f"{kind} to "),
        )
    )
    if already is None:
        open_review(session, None, campaign, inv, reason, actor=ACTOR)


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
    invitations, items = _prepare_each(
        session, campaign, invitations, "reminder", wanted, prepare, secret=secret, now=now
    )
    done, queued = _queue(session, invitations, items, claim)
    # One UPDATE per reminder number (a batch nearly always holds a single one).
    for sequence in sorted({wanted[inv.id] for inv, _ in done}):
        _mark(
            session,
            campaign.id,
            [(inv, oid) for inv, oid in done if wanted[inv.id] == sequence],
            InvitationState.INVITED,
            {
                "reminders_sent": sequence,
                "last_reminded_at": now,
                "updated_at": now,
                "dispatch_until": None,
            },
            lambda inv, outbox_id: {
                "action": AuditAction.REMINDED,
                "detail": {"sequence": wanted[inv.id], "outbox_id": outbox_id},
            },
        )
    return queued

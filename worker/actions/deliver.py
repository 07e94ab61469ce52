"""Deliver the final letter once: prepare it at the deadline, await approval, notify signers."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, exists, select, update
from sqlalchemy.orm import Session

from worker.actions import audit
from worker.actions.campaigns import find_campaign
from worker.actions.final_letter import (  # re-exported: callers use deliver.<name>
    FINAL_KIND,
    NOTICE_KIND,
    attached_pdfs,
    build_final_email,
    check_list,
    final_dedupe_key,
    final_row,
    last_preview,
    letter_detail,
    notice_dedupe_key,
    queue_late_outcomes,
    queue_notices,
    raw_sha256,
    record_preview,
)
from worker.actions.letter import build_letters
from worker.actions.outbox import publish_after_commit, queue_email
from worker.core.audit_actions import AuditAction
from worker.core.states import CAMPAIGN_TRANSITIONS, OUTBOX_TRANSITIONS, CampaignState, OutboxState
from worker.errors import NotFound, UserError
from worker.mail.outgoing import redated
from worker.models import AuditLog, Campaign, OutboundMessage

log = logging.getLogger(__name__)

ACTOR = "delivery"
__all__ = [
    "FINAL_KIND", "NOTICE_KIND", "Outcome", "advance_delivered", "approve", "attached_pdfs",
    "campaign_by_slug", "final_dedupe_key", "final_row", "notice_dedupe_key", "prepare",
    "queue_notices", "raw_sha256", "record_preview", "refresh_held_letter", "resolve",
]  # fmt: skip


@dataclass
class Outcome:
    """What one call did, for logs and the CLI."""

    campaign_state: str
    action: str  # "nothing", "prepared", "delivered", ...
    outbox_ids: list[int] = field(default_factory=list)
    detail: dict[str, Any] = field(default_factory=dict)


def _rowcount(result: Any) -> int:
    """Rows an UPDATE matched (a CursorResult; typed loosely because Session.execute is)."""
    return int(cast("CursorResult[Any]", result).rowcount)


# ---------------------------------------------------------------------------------------------
# Building the final email


# ---------------------------------------------------------------------------------------------
# The step the scan runs: "delivery.prepare"


def prepare(session: Session, campaign_id: int, *, now: datetime) -> Outcome:
    """Move a closed campaign one step towards delivery; safe to run any number of times at once.

    0. CLOSING: take the campaign row (a conditional UPDATE is the first statement, so two
       runs queue behind each other and the second finds the state already moved), build the
       final email with its PDFs as one outbox row (unique key), then wait for approval
       (row held) or queue it.
    1. DELIVERING: when the final row is sent, mark the campaign delivered and queue the notices.
    2. Anything else: nothing to do.
    The caller commits.
    """
    t = Campaign
    taken = _rowcount(
        session.execute(
            update(t)
            .where(t.id == campaign_id, t.state == CampaignState.CLOSING.value)
            .values(updated_at=now)
            .execution_options(synchronize_session=False)
        )
    )
    if taken:  # 0
        campaign = session.get(Campaign, campaign_id, populate_existing=True)
        assert campaign is not None
        return _prepare_final(session, campaign, now)
    state = session.scalar(select(t.state).where(t.id == campaign_id))
    if state is None:
        raise NotFound(f"no campaign with id {campaign_id}")
    if state == CampaignState.DELIVERING.value:  # 1
        return advance_delivered(session, campaign_id, now=now)
    return Outcome(state, "nothing")  # 2


def _prepare_final(session: Session, campaign: Campaign, now: datetime) -> Outcome:
    if campaign.frozen_at is None:  # the deadline scan sets it; never print a final as a draft
        campaign.frozen_at = now
    row = final_row(session, campaign.id)
    detail: dict[str, Any] = {}
    if row is None:
        prepared, letters, pdfs = build_final_email(session, campaign, now)
        row = queue_email(
            session,
            campaign_id=campaign.id,
            kind=FINAL_KIND,
            sequence=0,
            prepared=prepared,
            dedupe_key=final_dedupe_key(campaign.id),
        )
        if row is None:  # another run inserted it between our lock and now: impossible, but safe
            row = final_row(session, campaign.id)
            assert row is not None
        elif row.state == OutboxState.SUPPRESSED.value:
            raise UserError(
                f"campaign {campaign.slug}: the final letter's recipients are suppressed; "
                "nothing was queued"
            )
        detail = {"outbox_id": row.id, **letter_detail(letters, pdfs)}
        audit.event(
            session, row, actor=ACTOR, action=AuditAction.FINAL_LETTER_PREPARED, to_state=row.state,
            detail=detail,
        )  # fmt: skip
    if campaign.requires_approval and campaign.approved_at is None:
        if row.state == OutboxState.QUEUED.value:
            audit.move(
                session, row, OUTBOX_TRANSITIONS, OutboxState.HELD,
                actor=ACTOR, action=AuditAction.AWAITING_APPROVAL,
            )  # fmt: skip
        audit.move(
            session, campaign, CAMPAIGN_TRANSITIONS, CampaignState.AWAITING_APPROVAL,
            actor=ACTOR, action=AuditAction.FINAL_LETTER_AWAITING_APPROVAL, detail=detail or None,
        )  # fmt: skip
        return Outcome(campaign.state, "awaiting_approval", [row.id], detail)
    audit.move(
        session, campaign, CAMPAIGN_TRANSITIONS, CampaignState.DELIVERING,
        actor=ACTOR, action=AuditAction.FINAL_LETTER_QUEUED, detail=detail or None,
    )  # fmt: skip
    if row.state == OutboxState.QUEUED.value:
        publish_after_commit(session, [row.id])
    return Outcome(campaign.state, "queued", [row.id], detail)


def advance_delivered(session: Session, campaign_id: int, *, now: datetime) -> Outcome:
    """DELIVERING -> DELIVERED once the final row is sent; then queue the notices.

    Cheap when nothing is to do: one read. The move itself is a conditional UPDATE, so two
    runs cannot both queue notices (and the notices' unique keys would stop them anyway).
    """
    key = final_dedupe_key(campaign_id)
    sent_at = session.scalar(
        select(OutboundMessage.sent_at).where(
            OutboundMessage.dedupe_key == key, OutboundMessage.state == OutboxState.SENT.value
        )
    )
    if sent_at is None:
        return Outcome(CampaignState.DELIVERING.value, "waiting")
    moved = _rowcount(
        session.execute(
            update(Campaign)
            .where(
                Campaign.id == campaign_id,
                Campaign.state == CampaignState.DELIVERING.value,
                exists().where(
                    OutboundMessage.dedupe_key == key,
                    OutboundMessage.state == OutboxState.SENT.value,
                ),
            )
            .values(state=CampaignState.DELIVERED.value, delivered_at=sent_at, updated_at=now)
            .execution_options(synchronize_session=False)
        )
    )
    campaign = session.get(Campaign, campaign_id, populate_existing=True)
    assert campaign is not None
    if not moved:
        return Outcome(campaign.state, "nothing")
    audit.event(
        session, campaign, actor=ACTOR, action=AuditAction.FINAL_LETTER_DELIVERED,
        campaign_id=campaign.id,
        from_state=CampaignState.DELIVERING.value, to_state=CampaignState.DELIVERED.value,
        detail={"sent_at": sent_at.isoformat()},
    )  # fmt: skip
    ids = queue_notices(session, campaign, now=now)
    ids += queue_late_outcomes(session, campaign, now=now)
    return Outcome(campaign.state, "delivered", ids, {"notices": len(ids)})


# ---------------------------------------------------------------------------------------------
# "Letter delivered" notices


# ---------------------------------------------------------------------------------------------
# A person's decisions: approve, resolve


def campaign_by_slug(session: Session, slug: str) -> Campaign:
    """The one lookup by slug (actions/campaigns.find_campaign), under its old name here."""
    return find_campaign(session, slug)


def refresh_held_letter(session: Session, campaign: Campaign, *, now: datetime) -> bool:
    """Rebuild the held final letter if the signatories changed since it was prepared (a lead
    added a late signatory, say). It has never left, so its bytes may still change; its
    Message-ID does not. Returns True when it was rebuilt."""
    row = final_row(session, campaign.id)
    if row is None or row.state != OutboxState.HELD.value or row.raw is None:
        return False
    letters = build_letters(session, campaign)
    prepared_detail = session.scalars(
        select(AuditLog.detail)
        .where(
            AuditLog.entity == "outbound_message",
            AuditLog.entity_id == row.id,
            AuditLog.action.in_(
                [AuditAction.FINAL_LETTER_PREPARED, AuditAction.FINAL_LETTER_REBUILT]
            ),
        )
        .order_by(AuditLog.id.desc())
    ).first()
    digests = (prepared_detail or {}).get("digests") or {}
    if digests == {lang: letter.digest() for lang, letter in letters.items()}:
        return False
    prepared, letters, pdfs = build_final_email(session, campaign, now)
    row.raw = prepared.raw
    row.texts = list(prepared.texts) if prepared.texts is not None else None
    row.recipients = list(prepared.recipients)
    row.subject = prepared.subject
    row.updated_at = now
    audit.event(
        session, row, actor=ACTOR, action=AuditAction.FINAL_LETTER_REBUILT,
        from_state=row.state, to_state=row.state,
        detail={"outbox_id": row.id, "previous_digests": digests, **letter_detail(letters, pdfs)},
    )  # fmt: skip
    return True


def approve(
    session: Session,
    campaign: Campaign,
    *,
    actor: str,
    now: datetime,
    expected_sha256: str | None,
    expected_list_hash: str | None = None,
) -> OutboundMessage:
    """AWAITING_APPROVAL -> DELIVERING: the held final letter is queued, as the lead saw it.

    `expected_sha256` is the hash of the message the lead was shown; if it changed since, the
    approval is refused (look again). The signatory list must have no problem to fix and be
    the list last previewed (`expected_list_hash`, else the last recorded preview). The
    message is dated now, when it is released. The caller commits; the send is published
    after commit.
    """
    if campaign.state != CampaignState.AWAITING_APPROVAL.value:
        hint = {
            CampaignState.CLOSING.value: "the letter is being prepared; try again in a minute",
            CampaignState.DELIVERING.value: "it was already approved and is being delivered",
            CampaignState.DELIVERED.value: "it was already delivered",
        }.get(campaign.state, "only a campaign past its deadline can be approved")
        raise UserError(
            f"campaign {campaign.slug} is {campaign.state}, not awaiting approval: {hint}"
        )
    row = final_row(session, campaign.id)
    if row is None or row.state != OutboxState.HELD.value:
        raise UserError(
            f"campaign {campaign.slug}: no held final letter found; "
            f"run `outreach status {campaign.slug}`"
        )
    if expected_sha256 is not None and raw_sha256(row) != expected_sha256:
        raise UserError(
            f"campaign {campaign.slug}: the final letter changed since it was shown to you "
            "(a signature changed); run the approve command again to see the new version"
        )
    check_list(
        session, campaign, expected_list_hash, message_shown=expected_sha256 is not None
    )
    shown = raw_sha256(row)
    if row.raw is not None:
        row.raw = redated(row.raw, now)
    _release(session, row, actor=actor, action=AuditAction.APPROVED, now=now)
    campaign.approved_at = now
    campaign.approved_by = actor
    audit.move(
        session, campaign, CAMPAIGN_TRANSITIONS, CampaignState.DELIVERING,
        actor=actor, action=AuditAction.FINAL_LETTER_APPROVED,
        detail={"outbox_id": row.id, "raw_sha256": raw_sha256(row), "shown_sha256": shown,
                "list": last_preview(session, campaign)},
    )  # fmt: skip
    return row


def resolve(session: Session, outbox_id: int, *, sent: bool, actor: str, now: datetime) -> Outcome:
    """`outreach outbox resolve ID --sent|--resend` for a final letter held after a crash.

    --sent: a person checked (e.g. with the ministry or the relay's log) that it went out:
    mark it sent and go on to the notices. --resend: it did not: queue it again (same
    Message-ID, so a receiving server that has it can tell the duplicate).
    """
    row = session.get(OutboundMessage, outbox_id)
    if row is None:
        raise NotFound(f"no outbox message {outbox_id}; see `outreach outbox list --state held`")
    if row.state != OutboxState.HELD.value:
        raise UserError(
            f"outbox message {outbox_id} is {row.state}, not held; "
            "only held messages need a decision"
        )
    campaign = session.get(Campaign, row.campaign_id)
    assert campaign is not None
    if campaign.state == CampaignState.AWAITING_APPROVAL.value:
        raise UserError(
            f"outbox message {outbox_id} is held for approval, not after a crash; "
            f"use `outreach campaign approve {campaign.slug}`"
        )
    if sent:
        audit.move(
            session, row, OUTBOX_TRANSITIONS, OutboxState.SENT, actor=actor,
            action=AuditAction.RESOLVED_SENT, detail={"previous_reply": row.last_smtp_reply},
        )  # fmt: skip
        row.sent_at = now
        row.last_smtp_reply = f"marked sent by {actor}"
        row.lease_until = None
        row.updated_at = now
        session.flush()
        if campaign.state == CampaignState.DELIVERING.value and row.kind == FINAL_KIND:
            outcome = advance_delivered(session, campaign.id, now=now)
            return Outcome(
                outcome.campaign_state, "resolved_sent", outcome.outbox_ids, outcome.detail
            )
        return Outcome(campaign.state, "resolved_sent", [row.id])
    _release(session, row, actor=actor, action=AuditAction.RESOLVED_RESEND, now=now)
    return Outcome(campaign.state, "resolved_resend", [row.id])


def _release(
    session: Session, row: OutboundMessage, *, actor: str, action: AuditAction, now: datetime
) -> None:
    """A held final letter goes back to the queue, free of any lease, to be sent now: its send
    task is published when the caller commits."""
    audit.move(session, row, OUTBOX_TRANSITIONS, OutboxState.QUEUED, actor=actor, action=action)
    row.next_attempt_at = now
    row.lease_until = None
    row.claimed_by = None
    row.updated_at = now
    publish_after_commit(session, [row.id])

"""Review: replies a person must decide. Open an item, forward a question, resolve an item."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy.orm import Session

from worker.actions import audit
from worker.actions.consent import decline, sign
from worker.actions.notices import body_preview, org_name, queue_lead
from worker.actions.outbox import publish_after_commit
from worker.actions.reply_context import ACTOR, Context, move_invitation
from worker.actions.suppression import unsubscribe
from worker.core.audit_actions import AuditAction, resolved
from worker.core.kinds import EmailKind
from worker.core.states import (
    INVITATION_TRANSITIONS,
    CampaignState,
    InboundState,
    InvitationState,
    ReviewState,
)
from worker.errors import NotFound, UserError
from worker.models import Campaign, InboundMessage, Invitation, ReviewItem


class Resolution(StrEnum):
    """What a person decided a review item is."""

    SIGN = "sign"
    DECLINE = "decline"
    QUESTION = "question"
    UNSUBSCRIBE = "unsubscribe"
    IGNORE = "ignore"


OUTCOMES = tuple(r.value for r in Resolution)
# Once the letter is being delivered (or the campaign is over) a signature can no longer count.
LETTER_FIXED = frozenset(
    {CampaignState.DELIVERING, CampaignState.DELIVERED, CampaignState.CANCELLED}
)


def open_review(
    session: Session,
    inbound: InboundMessage | None,
    campaign: Campaign | None,
    invitation: Invitation | None,
    reason: str,
    *,
    actor: str = ACTOR,
) -> ReviewItem:
    """Put a message (or an invitation) before a person, with the reason, audited as `actor`.

    The audit detail names what the item is about: the message, or for an item without one
    (an email that could not be rendered), the invitation.
    """
    item = ReviewItem(
        campaign_id=campaign.id if campaign else None,
        inbound_message_id=inbound.id if inbound else None,
        invitation_id=invitation.id if invitation else None,
        reason=reason,
        state=ReviewState.OPEN.value,
    )
    session.add(item)
    session.flush()
    about = (
        {"inbound_message_id": item.inbound_message_id}
        if inbound is not None or invitation is None
        else {"invitation_id": item.invitation_id}
    )
    audit.event(
        session, item, actor=actor, action=AuditAction.OPENED, to_state=ReviewState.OPEN.value,
        detail={"reason": reason, **about},
    )  # fmt: skip
    return item


def question(ctx: Context, *, reason: str) -> ReviewItem:
    """Stop reminders for this contact, put it before the lead, forward it to them."""
    move_invitation(ctx, InvitationState.QUESTION, AuditAction.QUESTION)
    inbound = ctx.inbound
    item = open_review(ctx.session, inbound, ctx.campaign, ctx.invitation, reason)
    if inbound is not None:
        own = (inbound.classification or {}).get("own_text") or ""
        queue_lead(
            ctx,
            EmailKind.QUESTION_FORWARD,
            inbound.id,
            {
                "organisation_name": org_name(ctx.invitation.organisation),
                "from_address": inbound.from_addr or ctx.contact.email,
                "received_at": inbound.received_at,
                "original_subject": inbound.subject or "",
                "original_text": own or body_preview(inbound.raw),
                "review_id": item.id,
            },
        )
    return item


def get_item(session: Session, item_id: int) -> ReviewItem:
    """The review item, or an error that says where to find the ids."""
    item = session.get(ReviewItem, item_id)
    if item is None:
        raise NotFound(f"no review item {item_id}; see `outreach review list`")
    return item


def resolve_item(
    session: Session,
    item: ReviewItem,
    *,
    outcome: str,
    name: str | None,
    by: str,
    invitation_id: int | None,
    note: str | None,
    secret: bytes,
    now: datetime,
    outbox_ids: list[int] | None = None,
) -> str:
    """Apply a person's decision to a review item; returns a one-line summary.

    `by` is who decided (recorded as `review:<by>` in the audit log and as the signature's
    `decided_by`). Emails it queues (an acknowledgement) are added to `outbox_ids` when given,
    so the caller can publish them after its commit.

    1. Only an open item can be resolved; the outcome must be one of `OUTCOMES`.
    2. Anything but `ignore` needs an invitation (the item's, or one named by the person).
    3. A signature cannot be added once the letter is fixed (delivering and later).
    4. Apply the decision with the same verbs intake uses; the message is processed; emails it
       queued are published to the sending queue as soon as the caller commits.
    5. Close the item, audited with the summary.
    """
    # 1.
    if outcome not in OUTCOMES:
        raise UserError(f"--as {outcome!r}: choose one of {', '.join(OUTCOMES)}")
    if item.state != ReviewState.OPEN.value:
        raise UserError(
            f"review item {item.id} is already resolved ({item.resolution} by {item.resolved_by})"
        )
    inbound = (
        session.get(InboundMessage, item.inbound_message_id) if item.inbound_message_id else None
    )
    summary = "ignored"
    decided_by = f"review:{by}"
    if outcome != Resolution.IGNORE:
        # 2.
        inv_id = invitation_id or item.invitation_id
        if inv_id is None:
            raise UserError(
                f"review item {item.id} matched no invitation; name it with --invitation ID "
                "(see `outreach contacts list`)"
            )
        invitation = session.get(Invitation, inv_id)
        if invitation is None:
            raise NotFound(f"no invitation {inv_id}")
        campaign = session.get(Campaign, invitation.campaign_id)
        assert campaign is not None
        # 3.
        if CampaignState(campaign.state) in LETTER_FIXED and outcome == Resolution.SIGN:
            raise UserError(
                f"campaign {campaign.slug} is {campaign.state}: the letter can no longer change"
            )
        # 4.
        ctx = Context(session, campaign, invitation, inbound, now, secret, decided_by)
        late = bool(inbound and inbound.is_late)
        if outcome == Resolution.SIGN:
            sign(ctx, name=name, decided_by=decided_by, late=late, acknowledge=not late)
            summary = f"signed for invitation {invitation.id}" + (f" as {name!r}" if name else "")
        elif outcome == Resolution.DECLINE:
            summary = decline(ctx, decided_by=decided_by)
        elif outcome == Resolution.QUESTION:
            summary = "kept as a question (no automatic reminders)"
            if (
                InvitationState.QUESTION
                in INVITATION_TRANSITIONS[InvitationState(invitation.state)]
            ):
                audit.move(
                    session,
                    invitation,
                    INVITATION_TRANSITIONS,
                    InvitationState.QUESTION,
                    actor=decided_by,
                    action=AuditAction.QUESTION,
                )
        elif outcome == Resolution.UNSUBSCRIBE:
            unsubscribe(ctx, decided_by=decided_by)
            summary = f"{invitation.contact.email} unsubscribed"
        if outbox_ids is not None:
            outbox_ids.extend(ctx.outbox_ids)
        # the acknowledgement goes now, not at the next lease sweep: published on commit
        publish_after_commit(session, ctx.outbox_ids)
        if inbound is not None:
            inbound.invitation_id = invitation.id
            inbound.campaign_id = campaign.id
    if inbound is not None and inbound.state in (
        InboundState.REVIEW.value,
        InboundState.STORED.value,
    ):
        inbound.state = InboundState.PROCESSED.value
    # 5.
    item.state = ReviewState.RESOLVED.value
    item.resolution = outcome
    item.resolved_by = by
    item.resolved_at = now
    item.note = note
    audit.event(
        session,
        item,
        actor=decided_by,
        action=resolved(outcome),
        from_state=ReviewState.OPEN.value,
        to_state=ReviewState.RESOLVED.value,
        detail={
            "name": name,
            "invitation_id": invitation_id or item.invitation_id,
            "note": note,
            "summary": summary,
        },
    )
    return summary

"""Bounces: mark the address, suppress it for good, invite the organisation's next address,
and tell the lead. One path for every source (a DSN, a VERP bounce, an SMTP 5xx)."""

from __future__ import annotations

from sqlalchemy import select

from worker.actions import audit
from worker.actions.notices import org_name, queue_lead
from worker.actions.reply_context import Context, move_invitation
from worker.actions.suppression import suppress, suppressed_addresses
from worker.core.audit_actions import AuditAction
from worker.core.kinds import EmailKind
from worker.core.states import AddressState, InvitationState
from worker.core.tokens import make_token
from worker.models import Contact, Invitation


def record_bounce(
    ctx: Context,
    *,
    permanent: bool,
    recipient: str | None,
    reasons: list[str],
    smtp_code: int | None = None,
    report_sequence: int | None = None,
    report_key: str | None = None,
    move_action: audit.Action = AuditAction.BOUNCED,
) -> str:
    """Mark the address; on a permanent failure, invite the organisation's next address.

    1. The contact's address becomes `bounced` (permanent) or `deferred` (transient), audited.
    2. Permanent: the address is suppressed and the invitation moves to `bounced`; when the
       organisation has another usable address, it gets its own invitation and this one
       becomes `replaced`.
    3. The lead gets a bounce report either way.
    """
    contact = ctx.contact
    # 1.
    contact.address_state = (AddressState.BOUNCED if permanent else AddressState.DEFERRED).value
    audit.record(
        ctx.session,
        actor=ctx.actor,
        entity="contact",
        entity_id=contact.id,
        action=AuditAction.BOUNCED if permanent else AuditAction.BOUNCE_DEFERRED,
        campaign_id=ctx.campaign.id,
        detail={"recipient": recipient, "reasons": reasons, "smtp_code": smtp_code},
    )
    # 2.
    replacement: Invitation | None = None
    outcome = "deferred"
    if permanent:
        suppress(ctx.session, contact.email, AuditAction.BOUNCED, ctx.campaign.id, actor=ctx.actor)
        outcome = "bounced"
        if move_invitation(ctx, InvitationState.BOUNCED, move_action):
            replacement = next_invitation(ctx)
            if replacement is not None:
                move_invitation(
                    ctx,
                    InvitationState.REPLACED,
                    AuditAction.REPLACED,
                    {"replacement_invitation_id": replacement.id},
                )
                outcome = "bounced (next address invited)"
    # 3.
    inbound = ctx.inbound
    if report_sequence is None:
        report_sequence = inbound.id if inbound else ctx.invitation.id
    queue_lead(
        ctx,
        EmailKind.BOUNCE_REPORT,
        report_sequence,
        {
            "organisation_name": org_name(ctx.invitation.organisation),
            "recipient": contact.email,
            "permanent": permanent,
            "smtp_code": smtp_code,
            "diagnostic": "; ".join(reasons),
            "received_at": inbound.received_at if inbound else ctx.now,
            "next_address": replacement.contact.email if replacement else None,
        },
        key=report_key,
    )
    return outcome


def next_invitation(ctx: Context) -> Invitation | None:
    """The organisation's next usable address gets its own invitation (sent by the scan)."""
    session = ctx.session
    suppressed = suppressed_addresses(session)
    invited = set(
        session.scalars(
            select(Invitation.contact_id).where(Invitation.campaign_id == ctx.campaign.id)
        )
    )
    for contact in session.scalars(
        select(Contact)
        .where(Contact.organisation_id == ctx.invitation.organisation_id)
        .order_by(Contact.position, Contact.id)
    ):
        if (
            contact.id in invited
            or contact.address_state == AddressState.BOUNCED.value
            or contact.email.lower() in suppressed
        ):
            continue
        invitation = Invitation(
            campaign_id=ctx.campaign.id,
            organisation_id=contact.organisation_id,
            contact_id=contact.id,
            token=make_token(ctx.secret, ctx.campaign.slug, contact.email),
            state=InvitationState.PENDING.value,
            language=contact.language,
        )
        session.add(invitation)
        session.flush()
        audit.event(
            session,
            invitation,
            actor=ctx.actor,
            action=AuditAction.CREATED_AFTER_BOUNCE,
            to_state=InvitationState.PENDING.value,
            detail={"replaces_invitation_id": ctx.invitation.id, "email": contact.email},
        )
        return invitation
    return None

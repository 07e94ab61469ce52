"""Consent: an organisation signs, withdraws, changes its listed name, or declines."""

from __future__ import annotations

import re

from worker.actions import audit
from worker.actions.notices import queue_contact, sequence
from worker.actions.reply_context import Context, move_invitation
from worker.core.audit_actions import AuditAction
from worker.core.kinds import EmailKind
from worker.core.states import InvitationState, SignatureState
from worker.models import Signature
from worker.signatures import active_signature, find_signature, remember_signature

__all__ = ["active_signature", "decline", "rename", "sign", "withdraw"]

_JAPANESE = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uff66-\uff9f]")


def _set_name(signature: Signature, name: str | None) -> None:
    if not name:
        return
    if _JAPANESE.search(name):
        signature.listed_name_ja = name
    else:
        signature.listed_name_en = name


def sign(
    ctx: Context, *, name: str | None, decided_by: str, late: bool = False, acknowledge: bool = True
) -> Signature:
    """Record the organisation's signature with its evidence, stop reminders, acknowledge."""
    session = ctx.session
    signature = find_signature(session, ctx.campaign.id, ctx.invitation.organisation_id)
    inbound = ctx.inbound
    evidence = {
        "invitation_id": ctx.invitation.id,
        "inbound_message_id": inbound.id if inbound else None,
        "from_addr": inbound.from_addr if inbound else None,
        "reply_message_id": inbound.message_id if inbound else None,
        "received_at": inbound.received_at if inbound else ctx.now,
        "auth_results": inbound.auth_results if inbound else None,
        "decided_by": decided_by,
        "letter_hash": ctx.campaign.letter_hash,
        "is_late": late,
    }
    if signature is None:
        signature = Signature(
            campaign_id=ctx.campaign.id,
            organisation_id=ctx.invitation.organisation_id,
            state=SignatureState.ACTIVE.value,
            signed_at=ctx.now,
            **evidence,
        )
        session.add(signature)
        remember_signature(session, signature)
        action = AuditAction.SIGNED
    elif signature.state == SignatureState.WITHDRAWN.value:
        for key, value in evidence.items():
            setattr(signature, key, value)
        signature.state = SignatureState.ACTIVE.value
        signature.withdrawn_at = None
        signature.signed_at = ctx.now
        action = AuditAction.SIGNED_AGAIN
    else:
        action = AuditAction.CONFIRMED  # another contact of the organisation had already signed
    _set_name(signature, name)
    audit.event(
        session,
        signature,
        actor=ctx.actor,
        action=action,
        to_state=signature.state,
        detail={
            "decided_by": decided_by,
            "name": name,
            "inbound_message_id": inbound.id if inbound else None,
        },
    )
    move_invitation(ctx, InvitationState.SIGNED, AuditAction.SIGNED)
    ctx.invitation.answered_at = ctx.now
    if acknowledge:
        queue_contact(ctx, EmailKind.ACKNOWLEDGEMENT, sequence(ctx))
    return signature


def withdraw(ctx: Context, *, decided_by: str) -> bool:
    """Take the organisation's signature back (before the deadline); False if there was none."""
    signature = active_signature(ctx.session, ctx.campaign.id, ctx.invitation.organisation_id)
    if signature is None:
        return False
    signature.state = SignatureState.WITHDRAWN.value
    signature.withdrawn_at = ctx.now
    audit.event(
        ctx.session,
        signature,
        actor=ctx.actor,
        action=AuditAction.WITHDRAWN,
        from_state=SignatureState.ACTIVE.value,
        to_state=SignatureState.WITHDRAWN.value,
        detail={
            "decided_by": decided_by,
            "inbound_message_id": ctx.inbound.id if ctx.inbound else None,
        },
    )
    move_invitation(ctx, InvitationState.WITHDRAWN, AuditAction.WITHDRAWN)
    ctx.invitation.answered_at = ctx.now
    return True


def rename(ctx: Context, *, name: str, decided_by: str) -> bool:
    """Change the listed name of a signature that counts; acknowledged like a signature."""
    signature = active_signature(ctx.session, ctx.campaign.id, ctx.invitation.organisation_id)
    if signature is None:
        return False
    before = {"en": signature.listed_name_en, "ja": signature.listed_name_ja}
    _set_name(signature, name)
    ctx.session.flush()
    audit.event(
        ctx.session, signature, actor=ctx.actor, action=AuditAction.RENAMED,
        detail={"before": before, "name": name, "decided_by": decided_by},
    )  # fmt: skip
    queue_contact(ctx, EmailKind.ACKNOWLEDGEMENT, sequence(ctx))
    return True


def decline(ctx: Context, *, decided_by: str) -> str:
    """Decline; an organisation that had signed withdraws."""
    if ctx.invitation.state == InvitationState.SIGNED.value:
        withdraw(ctx, decided_by=decided_by)
        return "withdrawn"
    moved = move_invitation(
        ctx, InvitationState.DECLINED, AuditAction.DECLINED, {"decided_by": decided_by}
    )
    if moved:
        ctx.invitation.answered_at = ctx.now
    return "declined" if moved else f"declined (invitation stays {ctx.invitation.state})"

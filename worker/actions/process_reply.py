"""Process one stored message: match it to an invitation, verify the sender, classify, act."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from worker.actions import audit
from worker.actions.outbox import queue_email
from worker.core import matching
from worker.core.classify import Classification, Intent, classify
from worker.core.decode import MessageHeaders, parse_headers, parse_message, part_text
from worker.core.states import (
    INVITATION_TRANSITIONS,
    CampaignState,
    InboundState,
    InvitationState,
    OutboxState,
    ReviewState,
    SignatureState,
)
from worker.core.tokens import find_tokens, make_token
from worker.core.withdrawal import wants_withdrawal
from worker.mail.outgoing import prepare_contact_email, prepare_lead_email
from worker.models import (
    Campaign,
    Contact,
    InboundMessage,
    Invitation,
    Organisation,
    OutboundMessage,
    ReviewItem,
    Signature,
    Suppression,
)

ACTOR = "intake"
# Campaign states in which answers still change the signatory list.
ANSWERS_ACCEPTED = frozenset({CampaignState.DRAFT, CampaignState.OPEN, CampaignState.PAUSED})
# Campaign states in which a lead may still add a late signatory before delivery.
AWAITING_LEAD = frozenset({CampaignState.CLOSING, CampaignState.AWAITING_APPROVAL})
_JAPANESE = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uff66-\uff9f]")
@dataclass
class Outcome:
    """What processing did, for tasks, the CLI and tests."""

    inbound_id: int
    state: str
    action: str
    invitation_id: int | None = None
    outbox_ids: list[int] = field(default_factory=list)


@dataclass
class Context:
    """One reply being acted on."""

    session: Session
    campaign: Campaign
    invitation: Invitation
    inbound: InboundMessage | None
    now: datetime
    secret: bytes
    actor: str
    outbox_ids: list[int] = field(default_factory=list)

    @property
    def contact(self) -> Contact:
        return self.invitation.contact


def process_reply(
    session: Session, inbound_id: int, *, now: datetime, secret: bytes, authserv_id: str
) -> Outcome:
    """Act on one stored message. Idempotent: a message no longer `stored` is left alone.

    0. Claim the row (only `stored` rows are processed; the caller commits).
    1. Read the headers; unreadable -> review.
    2. Match it to an invitation (token, our Message-IDs, sender).
    3. Classify it with the texts we sent to that contact removed.
    4. A bounce that matched nothing is matched by the bounced recipient.
    5. Unmatched -> review.
    6. Verify the sender (not for bounces and auto-replies, which change no answer).
    7. After the deadline -> late handling.
    8. Act on the intent.
    """
    # 0.
    inbound = session.get(InboundMessage, inbound_id, with_for_update=True)
    if inbound is None:
        return Outcome(inbound_id, "missing", "none")
    if inbound.state != InboundState.STORED.value:
        return Outcome(inbound_id, inbound.state, "already-processed", inbound.invitation_id)
    inbound.processed_at = now
    # 1.
    try:
        headers = parse_headers(inbound.raw)
    except Exception as exc:
        return _review(session, inbound, None, None, f"unparseable: {type(exc).__name__}: {exc}")
    if headers.from_address:
        inbound.from_addr = headers.from_address[:320]
    # 2.
    match = _match(session, headers)
    invitation = session.get(Invitation, match.invitation_id) if match.invitation_id else None
    # 3.
    sent = _sent_texts(session, invitation.id) if invitation else []
    campaign = session.get(Campaign, invitation.campaign_id) if invitation else None
    today = _local_date(inbound.received_at, campaign.timezone if campaign else "UTC")
    result = classify(inbound.raw, sent, today=today)
    inbound.intent = result.intent.value
    inbound.classification = _as_json(result)
    # 4.
    if invitation is None and result.intent is Intent.BOUNCE and result.bounced_recipient:
        invitation = _invitation_for_address(session, result.bounced_recipient)
        if invitation is not None:
            match = matching.Match(
                invitation.id,
                "bounced-recipient",
                None,
                (*match.reasons, "matched: bounced recipient"),
            )
            campaign = session.get(Campaign, invitation.campaign_id)
    inbound.match_method = match.method
    inbound.classification["match"] = list(match.reasons)
    # 5.
    if invitation is None or campaign is None:
        return _review(session, inbound, None, None, "unmatched: " + "; ".join(match.reasons))
    inbound.invitation_id = invitation.id
    inbound.campaign_id = campaign.id
    ctx = Context(session, campaign, invitation, inbound, now, secret, ACTOR)
    # 6.
    if result.intent not in (Intent.BOUNCE, Intent.AUTO_REPLY):
        organisation = invitation.organisation
        verdict = matching.verify_sender(
            match=match,
            from_address=headers.from_address,
            invited_address=invitation.contact.email,
            organisation_domains=[str(d) for d in (organisation.domains or [])],
            auth_results=headers.authentication_results,
            authserv_id=authserv_id,
        )
        inbound.classification["verification"] = list(verdict.reasons)
        if not verdict.ok:
            return _review(
                session,
                inbound,
                campaign,
                invitation,
                f"verification failed ({verdict.rule}); classified {result.intent.value}: "
                + "; ".join(verdict.reasons),
            )
        rule = f"{result.reasons[0] if result.reasons else result.intent.value} | {verdict.rule}"
    else:
        rule = result.reasons[0] if result.reasons else result.intent.value
    # 7.
    if is_late(campaign, inbound.received_at) and result.intent not in (
        Intent.BOUNCE,
        Intent.AUTO_REPLY,
    ):
        return _late(ctx, result)
    # 8.
    answers_ack = match.answers_kind == "acknowledgement" or (
        invitation.state == InvitationState.SIGNED.value and result.intent is not Intent.BOUNCE
    )
    if answers_ack:
        return _ack_reply(ctx, result, rule)
    return _act(ctx, result, rule)


# -- matching -------------------------------------------------------------------------------


def _match(session: Session, headers: MessageHeaders) -> matching.Match:
    recipients = {
        "delivered-to": headers.delivered_to,
        "x-original-to": headers.x_original_to,
        "to": headers.to,
        "cc": headers.cc,
    }
    tokens = find_tokens([a for values in recipients.values() for a in values])
    by_token = (
        dict(
            session.execute(
                select(Invitation.token, Invitation.id).where(Invitation.token.in_(tokens))
            )
            .tuples()
            .all()
        )
        if tokens
        else {}
    )
    ids = [m for m in (headers.in_reply_to, *headers.references) if m]
    by_message_id: dict[str, matching.OurMessage] = {}
    if ids:
        for mid, inv_id, kind in session.execute(
            select(
                OutboundMessage.message_id, OutboundMessage.invitation_id, OutboundMessage.kind
            ).where(OutboundMessage.message_id.in_(ids), OutboundMessage.invitation_id.is_not(None))
        ).tuples():
            if inv_id is not None:
                by_message_id[mid] = matching.OurMessage(inv_id, kind)
    by_sender: dict[str, list[int]] = {}
    if headers.from_address:
        by_sender[headers.from_address] = list(
            session.scalars(
                select(Invitation.id)
                .join(Contact, Contact.id == Invitation.contact_id)
                .where(Contact.email == headers.from_address)
            )
        )
    return matching.match_invitation(
        recipients=recipients,
        in_reply_to=headers.in_reply_to,
        references=headers.references,
        from_address=headers.from_address,
        by_token=by_token,
        by_message_id=by_message_id,
        by_sender=by_sender,
    )


def _invitation_for_address(session: Session, address: str) -> Invitation | None:
    found = list(
        session.scalars(
            select(Invitation)
            .join(Contact, Contact.id == Invitation.contact_id)
            .where(Contact.email == address.lower())
        )
    )
    return found[0] if len(found) == 1 else None


def _sent_texts(session: Session, invitation_id: int) -> list[str]:
    """The text parts of every email we sent (or queued) for this invitation."""
    texts: list[str] = []
    for raw in session.scalars(
        select(OutboundMessage.raw).where(OutboundMessage.invitation_id == invitation_id)
    ):
        if not raw:
            continue
        for part in parse_message(raw).walk():
            if part.get_content_type() == "text/plain":
                texts.append(part_text(part))
    return texts


def _local_date(at: datetime, tz: str) -> date:
    return at.astimezone(ZoneInfo(tz)).date()


def _as_json(result: Classification) -> dict[str, Any]:
    data = asdict(result)
    data["intent"] = result.intent.value
    data["reasons"] = list(result.reasons)
    data["return_date"] = result.return_date.isoformat() if result.return_date else None
    return data


def is_late(campaign: Campaign, received_at: datetime) -> bool:
    """Past the deadline, or the campaign no longer takes answers (closing and later)."""
    return CampaignState(campaign.state) not in ANSWERS_ACCEPTED or received_at > campaign.deadline


# -- outcomes -------------------------------------------------------------------------------


def _review(
    session: Session,
    inbound: InboundMessage,
    campaign: Campaign | None,
    invitation: Invitation | None,
    reason: str,
) -> Outcome:
    inbound.state = InboundState.REVIEW.value
    open_review(session, inbound, campaign, invitation, reason)
    return Outcome(inbound.id, inbound.state, "review", invitation.id if invitation else None)


def open_review(
    session: Session,
    inbound: InboundMessage | None,
    campaign: Campaign | None,
    invitation: Invitation | None,
    reason: str,
) -> ReviewItem:
    item = ReviewItem(
        campaign_id=campaign.id if campaign else None,
        inbound_message_id=inbound.id if inbound else None,
        invitation_id=invitation.id if invitation else None,
        reason=reason,
        state=ReviewState.OPEN.value,
    )
    session.add(item)
    session.flush()
    audit.record(
        session,
        actor=ACTOR,
        entity="review_item",
        entity_id=item.id,
        action="opened",
        campaign_id=item.campaign_id,
        to_state=ReviewState.OPEN.value,
        detail={"reason": reason, "inbound_message_id": item.inbound_message_id},
    )
    return item


def _done(
    ctx: Context,
    action: str,
    *,
    review: str | None = None,
    state: InboundState = InboundState.PROCESSED,
) -> Outcome:
    """Finish the message: processed, or in review (a review item opened with `review`)."""
    inbound = ctx.inbound
    assert inbound is not None
    if review is not None:
        inbound.state = InboundState.REVIEW.value
        open_review(ctx.session, inbound, ctx.campaign, ctx.invitation, review)
    else:
        inbound.state = state.value
    return Outcome(inbound.id, inbound.state, action, ctx.invitation.id, ctx.outbox_ids)


def _act(ctx: Context, result: Classification, rule: str) -> Outcome:
    intent = result.intent
    if intent is Intent.SIGN:
        if ctx.invitation.state in (
            InvitationState.UNSUBSCRIBED.value,
            InvitationState.BOUNCED.value,
            InvitationState.REPLACED.value,
        ):
            return _done(
                ctx, "review", review=f"sign from an invitation in state {ctx.invitation.state}"
            )
        sign(ctx, name=result.name, decided_by=rule)
        return _done(ctx, "signed")
    if intent is Intent.DECLINE:
        return _done(ctx, decline(ctx, decided_by=rule))
    if intent is Intent.QUESTION:
        question(ctx, reason="; ".join(result.reasons) or "question")
        return _done(ctx, "question", state=InboundState.REVIEW)
    if intent is Intent.UNSUBSCRIBE:
        unsubscribe(ctx, decided_by=rule)
        return _done(ctx, "unsubscribed")
    if intent is Intent.AUTO_REPLY:
        return _done(ctx, _auto_reply(ctx, result))
    if intent is Intent.BOUNCE:
        return _done(ctx, _bounce(ctx, result))
    return _done(ctx, "review", review="unclear: " + "; ".join(result.reasons))


# -- the verbs (also used by `outreach review resolve`) -------------------------------------


def _move(
    ctx: Context, target: InvitationState, action: str, detail: dict[str, Any] | None = None
) -> bool:
    """Move the invitation if the table allows it; False (and nothing changed) otherwise."""
    current = InvitationState(ctx.invitation.state)
    if current is target:
        return False
    if target not in INVITATION_TRANSITIONS[current]:
        return False
    audit.move(
        ctx.session,
        ctx.invitation,
        INVITATION_TRANSITIONS,
        target,
        actor=ctx.actor,
        action=action,
        detail={**(detail or {}), "inbound_message_id": ctx.inbound.id if ctx.inbound else None},
    )
    return True


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
    signature = session.scalars(
        select(Signature).where(
            Signature.campaign_id == ctx.campaign.id,
            Signature.organisation_id == ctx.invitation.organisation_id,
        )
    ).first()
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
        action = "signed"
    elif signature.state == SignatureState.WITHDRAWN.value:
        for key, value in evidence.items():
            setattr(signature, key, value)
        signature.state = SignatureState.ACTIVE.value
        signature.withdrawn_at = None
        signature.signed_at = ctx.now
        action = "signed-again"
    else:
        action = "confirmed"  # another contact of the organisation had already signed
    _set_name(signature, name)
    session.flush()
    audit.record(
        session,
        actor=ctx.actor,
        entity="signature",
        entity_id=signature.id,
        action=action,
        campaign_id=ctx.campaign.id,
        to_state=signature.state,
        detail={
            "decided_by": decided_by,
            "name": name,
            "inbound_message_id": inbound.id if inbound else None,
        },
    )
    _move(ctx, InvitationState.SIGNED, "signed")
    ctx.invitation.answered_at = ctx.now
    if acknowledge:
        _queue_contact(ctx, "acknowledgement", _sequence(ctx))
    return signature


def _active_signature(ctx: Context) -> Signature | None:
    """The organisation's signature that currently counts, if any."""
    return ctx.session.scalars(
        select(Signature).where(
            Signature.campaign_id == ctx.campaign.id,
            Signature.organisation_id == ctx.invitation.organisation_id,
            Signature.state == SignatureState.ACTIVE.value,
        )
    ).first()


def withdraw(ctx: Context, *, decided_by: str) -> bool:
    """Take the organisation's signature back (before the deadline); False if there was none."""
    signature = _active_signature(ctx)
    if signature is None:
        return False
    signature.state = SignatureState.WITHDRAWN.value
    signature.withdrawn_at = ctx.now
    audit.record(
        ctx.session,
        actor=ctx.actor,
        entity="signature",
        entity_id=signature.id,
        action="withdrawn",
        campaign_id=ctx.campaign.id,
        from_state=SignatureState.ACTIVE.value,
        to_state=SignatureState.WITHDRAWN.value,
        detail={
            "decided_by": decided_by,
            "inbound_message_id": ctx.inbound.id if ctx.inbound else None,
        },
    )
    _move(ctx, InvitationState.WITHDRAWN, "withdrawn")
    ctx.invitation.answered_at = ctx.now
    return True


def rename(ctx: Context, *, name: str, decided_by: str) -> bool:
    signature = _active_signature(ctx)
    if signature is None:
        return False
    before = {"en": signature.listed_name_en, "ja": signature.listed_name_ja}
    _set_name(signature, name)
    ctx.session.flush()
    audit.record(
        ctx.session,
        actor=ctx.actor,
        entity="signature",
        entity_id=signature.id,
        action="renamed",
        campaign_id=ctx.campaign.id,
        detail={"before": before, "name": name, "decided_by": decided_by},
    )
    _queue_contact(ctx, "acknowledgement", _sequence(ctx))
    return True


def decline(ctx: Context, *, decided_by: str) -> str:
    """Decline; an organisation that had signed withdraws."""
    if ctx.invitation.state == InvitationState.SIGNED.value:
        withdraw(ctx, decided_by=decided_by)
        return "withdrawn"
    moved = _move(ctx, InvitationState.DECLINED, "declined", {"decided_by": decided_by})
    if moved:
        ctx.invitation.answered_at = ctx.now
    return "declined" if moved else f"declined (invitation stays {ctx.invitation.state})"


def question(ctx: Context, *, reason: str) -> ReviewItem:
    """Stop reminders for this contact, put it before the lead, forward it to them."""
    _move(ctx, InvitationState.QUESTION, "question")
    inbound = ctx.inbound
    item = open_review(ctx.session, inbound, ctx.campaign, ctx.invitation, reason)
    if inbound is not None:
        own = (inbound.classification or {}).get("own_text") or ""
        _queue_lead(
            ctx,
            "question_forward",
            inbound.id,
            {
                "organisation_name": _org_name(ctx.invitation.organisation),
                "from_address": inbound.from_addr or ctx.contact.email,
                "received_at": inbound.received_at,
                "original_subject": inbound.subject or "",
                "original_text": own or _body_preview(inbound.raw),
                "review_id": item.id,
            },
        )
    return item


def unsubscribe(ctx: Context, *, decided_by: str) -> None:
    """No further email to this address, the final "delivered" notice included."""
    suppress(ctx.session, ctx.contact.email, "unsubscribed", ctx.campaign.id, actor=ctx.actor)
    _move(ctx, InvitationState.UNSUBSCRIBED, "unsubscribed", {"decided_by": decided_by})
    ctx.invitation.answered_at = ctx.invitation.answered_at or ctx.now


def suppress(
    session: Session, email: str, reason: str, campaign_id: int | None, *, actor: str
) -> None:
    email = email.lower()
    if session.scalar(select(Suppression.id).where(Suppression.email == email)) is not None:
        return
    row = Suppression(email=email, reason=reason, campaign_id=campaign_id)
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor=actor,
        entity="suppression",
        entity_id=row.id,
        action=reason,
        campaign_id=campaign_id,
        detail={"email": email},
    )


def _auto_reply(ctx: Context, result: Classification) -> str:
    back = result.return_date
    if back is None or ctx.invitation.state != InvitationState.INVITED.value:
        return "auto-reply"
    tz = ZoneInfo(ctx.campaign.timezone)
    remind_at = datetime.combine(back, time(9, 0), tzinfo=tz).astimezone(UTC)
    if remind_at >= ctx.campaign.deadline:
        return "auto-reply (returns after the deadline)"
    ctx.invitation.remind_not_before = remind_at
    audit.record(
        ctx.session,
        actor=ctx.actor,
        entity="invitation",
        entity_id=ctx.invitation.id,
        action="remind-not-before",
        campaign_id=ctx.campaign.id,
        detail={"remind_not_before": remind_at.isoformat()},
    )
    return "auto-reply (reminder after return)"


def _bounce(ctx: Context, result: Classification) -> str:
    """Mark the address; on a permanent failure, invite the organisation's next address."""
    contact = ctx.contact
    transient = result.transient is True
    contact.address_state = "deferred" if transient else "bounced"
    audit.record(
        ctx.session,
        actor=ctx.actor,
        entity="contact",
        entity_id=contact.id,
        action="bounce-deferred" if transient else "bounced",
        campaign_id=ctx.campaign.id,
        detail={"recipient": result.bounced_recipient, "reasons": list(result.reasons)},
    )
    replacement: Invitation | None = None
    outcome = "deferred"
    if not transient:
        suppress(ctx.session, contact.email, "bounced", ctx.campaign.id, actor=ctx.actor)
        outcome = "bounced"
        if _move(ctx, InvitationState.BOUNCED, "bounced"):
            replacement = _next_invitation(ctx)
            if replacement is not None:
                _move(
                    ctx,
                    InvitationState.REPLACED,
                    "replaced",
                    {"replacement_invitation_id": replacement.id},
                )
                outcome = "bounced (next address invited)"
    inbound = ctx.inbound
    _queue_lead(
        ctx,
        "bounce_report",
        inbound.id if inbound else ctx.invitation.id,
        {
            "organisation_name": _org_name(ctx.invitation.organisation),
            "recipient": contact.email,
            "permanent": not transient,
            "smtp_code": None,
            "diagnostic": "; ".join(result.reasons),
            "received_at": inbound.received_at if inbound else ctx.now,
            "next_address": replacement.contact.email if replacement else None,
        },
    )
    return outcome


def _next_invitation(ctx: Context) -> Invitation | None:
    """The organisation's next usable address gets its own invitation (sent by the scan)."""
    session = ctx.session
    suppressed = set(session.scalars(select(Suppression.email)))
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
            or contact.address_state == "bounced"
            or contact.email in suppressed
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
        audit.record(
            session,
            actor=ctx.actor,
            entity="invitation",
            entity_id=invitation.id,
            action="created-after-bounce",
            campaign_id=ctx.campaign.id,
            to_state=InvitationState.PENDING.value,
            detail={"replaces_invitation_id": ctx.invitation.id, "email": contact.email},
        )
        return invitation
    return None


def _ack_reply(ctx: Context, result: Classification, rule: str) -> Outcome:
    """A reply to the acknowledgement (or a second answer after signing)."""
    text = result.own_text or ""
    wants_withdraw = result.intent is Intent.DECLINE or (
        result.intent in (Intent.UNCLEAR, Intent.QUESTION) and wants_withdrawal(text)
    )
    if result.intent is Intent.UNSUBSCRIBE:
        unsubscribe(ctx, decided_by=rule)
        return _done(ctx, "unsubscribed")
    if wants_withdraw:
        decided = rule if result.intent is Intent.DECLINE else "withdraw-keyword"
        if ctx.invitation.state == InvitationState.SIGNED.value:
            withdraw(ctx, decided_by=decided)
            return _done(ctx, "withdrawn")
        return _done(ctx, decline(ctx, decided_by=decided))
    if result.intent is Intent.SIGN:
        if result.name and ctx.invitation.state == InvitationState.SIGNED.value:
            rename(ctx, name=result.name, decided_by=rule)
            return _done(ctx, "renamed")
        if ctx.invitation.state != InvitationState.SIGNED.value:
            sign(ctx, name=result.name, decided_by=rule)
            return _done(ctx, "signed")
        return _done(ctx, "confirmed")
    if result.intent is Intent.QUESTION:
        question(ctx, reason="question after signing: " + "; ".join(result.reasons))
        return _done(ctx, "question", state=InboundState.REVIEW)
    return _done(
        ctx, "review", review="reply to acknowledgement, unclear: " + "; ".join(result.reasons)
    )


def _late(ctx: Context, result: Classification) -> Outcome:
    """After the deadline: record it as late, answer politely, let the lead decide."""
    inbound = ctx.inbound
    assert inbound is not None
    inbound.is_late = True
    if result.intent is Intent.UNSUBSCRIBE:
        unsubscribe(ctx, decided_by="late unsubscribe")
        return _done(ctx, "unsubscribed (late)")
    already = ctx.session.scalar(
        select(OutboundMessage.id).where(
            OutboundMessage.invitation_id == ctx.invitation.id, OutboundMessage.kind == "late_reply"
        )
    )
    if already is None:  # one polite answer per invitation is enough
        _queue_contact(ctx, "late_reply", 0)
    state = CampaignState(ctx.campaign.state)
    awaiting = ctx.campaign.requires_approval and state in AWAITING_LEAD
    if result.intent is Intent.DECLINE and ctx.invitation.state != InvitationState.SIGNED.value:
        _move(ctx, InvitationState.DECLINED, "declined-late")
    if awaiting or result.intent in (Intent.QUESTION, Intent.UNCLEAR):
        why = (
            "late answer; the campaign awaits approval, so the lead can still add it"
            if awaiting
            else "late answer"
        )
        return _done(
            ctx,
            "late",
            review=f"{why}: classified {result.intent.value}: " + "; ".join(result.reasons),
        )
    return _done(ctx, "late")


# -- email ----------------------------------------------------------------------------------


def _sequence(ctx: Context) -> int:
    """Emails answering a message are numbered by it, so processing twice queues nothing new."""
    return ctx.inbound.id if ctx.inbound else 0


def _is_suppressed(session: Session, email: str) -> bool:
    return (
        session.scalar(select(Suppression.id).where(Suppression.email == email.lower())) is not None
    )


def _thread(ctx: Context) -> dict[str, Any]:
    """Answers are threaded under the message they answer."""
    mid = ctx.inbound.message_id if ctx.inbound else None
    return {"in_reply_to": mid} if mid else {}


def _queue_contact(
    ctx: Context, kind: str, sequence: int, extra: dict[str, Any] | None = None
) -> None:
    if _is_suppressed(ctx.session, ctx.contact.email):
        return
    ctx.session.flush()
    prepared = prepare_contact_email(
        ctx.campaign,
        ctx.invitation,
        kind,
        sequence,
        secret=ctx.secret,
        now=ctx.now,
        extra={**_thread(ctx), **(extra or {})},
    )
    row = queue_email(
        ctx.session,
        campaign_id=ctx.campaign.id,
        kind=kind,
        sequence=sequence,
        prepared=prepared,
        contact_id=ctx.contact.id,
        invitation_id=ctx.invitation.id,
    )
    _remember(ctx, row)


def _queue_lead(ctx: Context, kind: str, sequence: int, extra: dict[str, Any]) -> None:
    ctx.session.flush()
    inbound = ctx.inbound
    prepared = prepare_lead_email(
        ctx.campaign,
        kind,
        sequence,
        key=f"inbound-{sequence}",
        now=ctx.now,
        extra={**_thread(ctx), **extra},
        reply_to=inbound.from_addr if inbound and kind == "question_forward" else None,
    )
    row = queue_email(
        ctx.session,
        campaign_id=ctx.campaign.id,
        kind=kind,
        sequence=sequence,
        prepared=prepared,
    )
    _remember(ctx, row)


def _remember(ctx: Context, row: OutboundMessage | None) -> None:
    if row is not None and row.state == OutboxState.QUEUED.value:
        ctx.outbox_ids.append(row.id)


def _org_name(organisation: Organisation) -> str:
    names = [n for n in (organisation.name_en, organisation.name_ja) if n]
    return " / ".join(names) or organisation.key


def _body_preview(raw: bytes, limit: int = 4000) -> str:
    for part in parse_message(raw).walk():
        if part.get_content_type() in ("text/plain", "text/html"):
            return part_text(part)[:limit]
    return ""

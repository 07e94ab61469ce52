"""Process one stored message: match it to an invitation, verify the sender, classify, act."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from worker.actions import audit
from worker.actions.bounces import record_bounce
from worker.actions.consent import decline, rename, sign, withdraw
from worker.actions.listing_name import sign_as_asked
from worker.actions.notices import queue_contact
from worker.actions.own_mail import own_message
from worker.actions.removal import carry_out_removal
from worker.actions.reply_checks import UNPROVEN_BOUNCE, prove_bounce, verify_reply
from worker.actions.reply_context import ACTOR, Context, Outcome, move_invitation
from worker.actions.reply_lookups import Lookups, recipients, referenced_ids, reply_tokens
from worker.actions.review import open_review, question
from worker.actions.suppression import suppress, unsubscribe
from worker.core import matching
from worker.core.audit_actions import AuditAction
from worker.core.classify import Classification, Intent, classify
from worker.core.decode import MessageHeaders
from worker.core.kinds import EmailKind
from worker.core.policy import Verb, decide_reply
from worker.core.states import (
    CAMPAIGN_AWAITING_LEAD,
    CAMPAIGN_COLLECTING,
    CampaignState,
    InboundState,
    InvitationState,
)
from worker.models import Campaign, Contact, InboundMessage, Invitation, OutboundMessage

# Campaign states in which answers still change the signatory list.
ANSWERS_ACCEPTED = CAMPAIGN_COLLECTING
# Campaign states in which a lead may still add a late signatory before delivery.
AWAITING_LEAD = CAMPAIGN_AWAITING_LEAD


def process_reply(
    session: Session,
    inbound_id: int,
    *,
    now: datetime,
    secret: bytes,
    authserv_id: str,
    lookups: Lookups | None = None,
) -> Outcome:
    """Act on one stored message. Idempotent: a message no longer `stored` is left alone.

    `lookups` answers the reads before acting (default: one query each; a batch passes
    `Prefetched`, which answers exactly the same).

    0. Claim the row (only `stored` rows are processed; the caller commits).
    1. Read the headers; unreadable -> review; our own mail come back -> done, no review.
    2. Match it to an invitation (token, our Message-IDs, sender).
    3. Classify it with the texts we sent to that contact removed.
    4. A bounce that matched nothing is matched by the bounced recipient.
    5. Unmatched -> review.
    6. A bounce must prove it answers our mail (VERP address, our Message-ID returned), else
       review; any other answer must pass the sender policy (From, DKIM: reply_checks).
    7. After the deadline -> late handling.
    8. Act on the intent (a removal request first: core.withdrawal decides what comes off).
    """
    lookups = lookups or Lookups(session)
    # 0.
    inbound = lookups.claim(inbound_id)
    if inbound is None:
        return Outcome(inbound_id, "missing", "none")
    if inbound.state != InboundState.STORED.value:
        return Outcome(inbound_id, inbound.state, "already-processed", inbound.invitation_id)
    inbound.processed_at = now
    # 1.
    try:
        msg, headers = lookups.parsed(inbound)
    except Exception as exc:
        return _review(session, inbound, None, None, f"unparseable: {type(exc).__name__}: {exc}")
    if headers.from_address:
        inbound.from_addr = headers.from_address[:320]
    if (own := own_message(lookups, headers)) is not None:
        inbound.state, inbound.classification = InboundState.PROCESSED.value, {"reasons": [own]}
        return Outcome(inbound.id, inbound.state, "own-mail")
    # 2.
    match = _match(lookups, headers)
    invitation = lookups.invitation(match.invitation_id) if match.invitation_id else None
    # 3.
    sent = lookups.sent_texts(invitation.id) if invitation else []
    campaign = session.get(Campaign, invitation.campaign_id) if invitation else None
    today = _local_date(inbound.received_at, campaign.timezone if campaign else "UTC")
    result = classify(inbound.raw, sent, today=today, parsed=(msg, headers))
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
    if result.intent is Intent.BOUNCE:
        proof = prove_bounce(session, inbound, headers, invitation)
        if proof is None:  # anyone can write a DSN: show it, never act on it
            why = UNPROVEN_BOUNCE + "; ".join(result.reasons)
            return _review(session, inbound, campaign, invitation, why)
        inbound.classification = {**inbound.classification, "bounce_proof": proof}
        rule = f"{result.reasons[0] if result.reasons else result.intent.value} | {proof}"
    elif result.intent is not Intent.AUTO_REPLY:
        verdict = verify_reply(inbound, headers, match, invitation, campaign, authserv_id)
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
        rule = f"{rule} | {verdict.authentication}"
    else:
        rule = result.reasons[0] if result.reasons else result.intent.value
    # 7.
    if is_late(campaign, inbound.received_at) and result.intent not in (
        Intent.BOUNCE,
        Intent.AUTO_REPLY,
    ):
        return _late(ctx, result, rule)
    # 8.
    if result.removal is not None:
        action, review = carry_out_removal(ctx, result, rule)
        return _done(ctx, action, review=review)
    answers_ack = match.answers_kind == EmailKind.ACKNOWLEDGEMENT or (
        invitation.state == InvitationState.SIGNED.value and result.intent is not Intent.BOUNCE
    )
    return _carry_out(ctx, result, rule, answers_ack)


# -- matching -------------------------------------------------------------------------------


def _match(lookups: Lookups, headers: MessageHeaders) -> matching.Match:
    ids = referenced_ids(headers)
    return matching.match_invitation(
        recipients=recipients(headers),
        in_reply_to=headers.in_reply_to,
        references=headers.references,
        from_address=headers.from_address,
        by_token=lookups.by_token(reply_tokens(headers)),
        by_message_id=lookups.by_message_id(ids) if ids else {},
        by_sender=(
            {headers.from_address: lookups.by_sender(headers.from_address)}
            if headers.from_address
            else {}
        ),
        from_ambiguous=bool(headers.from_ambiguity),
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


# -- outcomes --------------------------------------------------------------------------------


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


def _carry_out(ctx: Context, result: Classification, rule: str, answers_ack: bool) -> Outcome:
    """Do what the reply policy (core/policy.py) decided for this answer."""
    invitation = ctx.invitation
    decision = decide_reply(
        result.intent,
        InvitationState(invitation.state),
        answers_ack=answers_ack,
        has_name=bool(result.name),
    )
    reasons = "; ".join(result.reasons)
    verb = decision.verb
    if verb is Verb.SIGN:
        return _done(ctx, "signed", review=sign_as_asked(ctx, result, rule))
    if verb is Verb.SIGN_AGAIN:
        sign(ctx, name=result.name, decided_by=rule)
        return _done(ctx, "signed")
    if verb is Verb.RENAME:
        rename(ctx, name=result.name or "", decided_by=rule)
        return _done(ctx, "renamed")
    if verb is Verb.CONFIRM:
        return _done(ctx, "confirmed")
    if verb is Verb.WITHDRAW:
        withdraw(ctx, decided_by=rule)
        return _done(ctx, "withdrawn")
    if verb is Verb.DECLINE:
        return _done(ctx, decline(ctx, decided_by=rule))
    if verb is Verb.QUESTION:
        question(
            ctx, reason=decision.reason + reasons if decision.reason else reasons or "question"
        )
        return _done(ctx, "question", state=InboundState.REVIEW)
    if verb is Verb.AUTO_REPLY:
        return _done(ctx, _auto_reply(ctx, result))
    if verb is Verb.BOUNCE:
        return _done(ctx, _bounce(ctx, result))
    review = decision.reason + reasons if decision.reason.endswith(": ") else decision.reason
    return _done(ctx, "review", review=review)


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
        action=AuditAction.REMIND_NOT_BEFORE,
        campaign_id=ctx.campaign.id,
        detail={"remind_not_before": remind_at.isoformat()},
    )
    return "auto-reply (reminder after return)"


def _bounce(ctx: Context, result: Classification) -> str:
    """A bounce email (DSN): the one bounce path, shared with SMTP 5xx answers."""
    return record_bounce(
        ctx,
        permanent=result.transient is not True,
        recipient=result.bounced_recipient,
        reasons=list(result.reasons),
    )


def _late(ctx: Context, result: Classification, rule: str) -> Outcome:
    """After the deadline: record it as late, answer politely, let the lead decide."""
    inbound = ctx.inbound
    assert inbound is not None
    inbound.is_late = True
    if result.removal is not None:
        action, review = carry_out_removal(ctx, result, f"late: {rule}", late=True)
        return _done(ctx, f"{action} (late)", review=review)
    already = ctx.session.scalar(
        select(OutboundMessage.id).where(
            OutboundMessage.invitation_id == ctx.invitation.id,
            OutboundMessage.kind == EmailKind.LATE_REPLY,
        )
    )
    state = CampaignState(ctx.campaign.state)
    awaiting = ctx.campaign.requires_approval and state in AWAITING_LEAD
    # One story: while the lead may still add it, a late signer is told nothing yet; it hears
    # the final outcome once (listed: the acknowledgement; not: late_reply after delivery).
    if already is None and not (awaiting and result.intent is Intent.SIGN):
        queue_contact(ctx, EmailKind.LATE_REPLY, 0)
    if result.intent is Intent.DECLINE and ctx.invitation.state != InvitationState.SIGNED.value:
        move_invitation(ctx, InvitationState.DECLINED, AuditAction.DECLINED_LATE)
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


# The verbs moved to their own modules (consent, suppression, bounces, review); these names
# stay importable from here for callers written before the split.
__all__ = [
    "ACTOR",
    "Context",
    "Outcome",
    "decline",
    "is_late",
    "open_review",
    "process_reply",
    "question",
    "rename",
    "sign",
    "suppress",
    "unsubscribe",
    "withdraw",
]

"""Deliver the final letter once: prepare it at the deadline, await approval, notify signers."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from datetime import datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any, cast

from sqlalchemy import CursorResult, exists, func, select, update
from sqlalchemy.orm import Session

from worker.actions import audit
from worker.actions.letter import build_letters, letter_context, pdf_filename
from worker.actions.outbox import make_dedupe_key, publish_after_commit, queue_email
from worker.core import tokens
from worker.core.letter import Letter
from worker.core.states import (
    CAMPAIGN_TRANSITIONS,
    OUTBOX_TRANSITIONS,
    CampaignState,
    InvitationState,
    OutboxState,
    SignatureState,
)
from worker.errors import NotFound, Problem, UserError
from worker.mail.compose import Attachment, compose
from worker.mail.context import contact_context, definition_value, localised
from worker.mail.outgoing import PreparedEmail
from worker.mail.pdf import render_letter_pdf
from worker.mail.render import render_email
from worker.models import (
    AuditLog,
    Campaign,
    Contact,
    Invitation,
    OutboundMessage,
    Signature,
    Suppression,
)

log = logging.getLogger(__name__)

ACTOR = "delivery"
FINAL_KIND = "final_letter"
NOTICE_KIND = "delivered_notice"


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


def final_dedupe_key(campaign_id: int) -> str:
    return make_dedupe_key(campaign_id, None, FINAL_KIND, 0)


def notice_dedupe_key(campaign_id: int, contact_id: int) -> str:
    return make_dedupe_key(campaign_id, contact_id, NOTICE_KIND, 0)


def final_row(session: Session, campaign_id: int) -> OutboundMessage | None:
    return session.scalars(
        select(OutboundMessage).where(OutboundMessage.dedupe_key == final_dedupe_key(campaign_id))
    ).first()


def _mail_language(campaign: Campaign) -> str:
    """The ministry is Japanese: its covering email is in Japanese when the campaign has it."""
    languages = list(campaign.languages or ["en"])
    return "ja" if "ja" in languages else languages[0]


def _suppressed(session: Session, addresses: list[str]) -> set[str]:
    wanted = {a.lower() for a in addresses}
    if not wanted:
        return set()
    return set(
        session.scalars(
            select(func.lower(Suppression.email)).where(func.lower(Suppression.email).in_(wanted))
        )
    )


# ---------------------------------------------------------------------------------------------
# Building the final email


def build_final_email(
    session: Session, campaign: Campaign, now: datetime
) -> tuple[PreparedEmail, dict[str, Letter], dict[str, bytes]]:
    """The final email to the ministry with one PDF per language, as it would go out now.

    To: the ministry's recipient. Cc: the coordinators and ministry.cc (suppressed addresses
    left out). The Message-ID depends on the campaign only, so a rebuild keeps it.
    """
    letters = build_letters(session, campaign)
    recipient = definition_value(campaign, "ministry", "recipient")
    sender = definition_value(campaign, "sender")
    to_addr = str(recipient["email"])
    if _suppressed(session, [to_addr]):
        raise UserError(
            f"campaign {campaign.slug}: the ministry address {to_addr} is on the suppression "
            "list, so the final letter cannot go there; fix ministry.recipient.email and reload",
            [
                Problem(
                    campaign.source_path or campaign.slug, "ministry.recipient.email", "suppressed"
                )
            ],
        )
    cc_candidates: list[str] = [
        c["email"] for c in definition_value(campaign, "coordinators") if c.get("email")
    ]
    cc_candidates += list(definition_value(campaign, "ministry").get("cc") or [])
    blocked = _suppressed(session, cc_candidates)
    cc: list[str] = []
    for address in cc_candidates:
        lowered = address.lower()
        if lowered != to_addr.lower() and lowered not in blocked and lowered not in cc:
            cc.append(lowered)

    pdfs: dict[str, bytes] = {}
    for lang in letters:
        context = letter_context(session, campaign, lang, now, letters=letters)
        pdfs[lang] = render_letter_pdf(context)
    lang = _mail_language(campaign)
    context = letter_context(session, campaign, lang, now, letters=letters)
    context["pdf_names"] = [pdf_filename(campaign, code) for code in pdfs]
    rendered = render_email(FINAL_KIND, lang, context)
    name = localised(recipient.get("name"), lang)
    title = localised(recipient.get("title"), lang)
    display = (f"{title} {name} 様" if title else f"{name} 様") if lang == "ja" else name
    message_id = tokens.message_id(campaign.slug, FINAL_KIND, 0, sender["reply_domain"])
    raw = compose(
        sender=(localised(sender["name"], lang), sender["address"]),
        to=[(display, to_addr)],
        cc=[("", address) for address in cc],
        reply_to=sender["lead_email"],
        subject=rendered.subject,
        text=rendered.text,
        html=rendered.html,
        message_id=message_id,
        date=now,
        headers={"Content-Language": lang},
        attachments=[Attachment(pdf_filename(campaign, code), data) for code, data in pdfs.items()],
    )
    prepared = PreparedEmail(
        envelope_from=tokens.sender_bounce_address(sender),
        recipients=(to_addr, *cc),
        message_id=message_id,
        subject=rendered.subject,
        language=lang,
        raw=raw,
    )
    return prepared, letters, pdfs


def _letter_detail(letters: dict[str, Letter], pdfs: dict[str, bytes]) -> dict[str, Any]:
    return {
        "counts": {lang: letter.count for lang, letter in letters.items()},
        "digests": {lang: letter.digest() for lang, letter in letters.items()},
        "pdf_sha256": {lang: hashlib.sha256(data).hexdigest() for lang, data in pdfs.items()},
    }


def attached_pdfs(raw: bytes) -> dict[str, bytes]:
    """The PDFs of a stored message, by file name: exactly what the ministry gets."""
    message = message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    found: dict[str, bytes] = {}
    for part in message.iter_attachments():
        filename = part.get_filename()
        if filename and part.get_content_type() == "application/pdf":
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                found[filename] = payload
    return found


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
        detail = {"outbox_id": row.id, **_letter_detail(letters, pdfs)}
        audit.record(
            session,
            actor=ACTOR,
            entity="outbound_message",
            entity_id=row.id,
            campaign_id=campaign.id,
            action="final_letter.prepared",
            to_state=row.state,
            detail=detail,
        )
    if campaign.requires_approval and campaign.approved_at is None:
        if row.state == OutboxState.QUEUED.value:
            audit.move(
                session, row, OUTBOX_TRANSITIONS, OutboxState.HELD,
                actor=ACTOR, action="awaiting_approval",
            )  # fmt: skip
        audit.move(
            session, campaign, CAMPAIGN_TRANSITIONS, CampaignState.AWAITING_APPROVAL,
            actor=ACTOR, action="final_letter.awaiting_approval", detail=detail or None,
        )  # fmt: skip
        return Outcome(campaign.state, "awaiting_approval", [row.id], detail)
    audit.move(
        session, campaign, CAMPAIGN_TRANSITIONS, CampaignState.DELIVERING,
        actor=ACTOR, action="final_letter.queued", detail=detail or None,
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
    audit.record(
        session,
        actor=ACTOR,
        entity="campaign",
        entity_id=campaign.id,
        campaign_id=campaign.id,
        action="final_letter.delivered",
        from_state=CampaignState.DELIVERING.value,
        to_state=CampaignState.DELIVERED.value,
        detail={"sent_at": sent_at.isoformat()},
    )
    ids = queue_notices(session, campaign, now=now)
    return Outcome(campaign.state, "delivered", ids, {"notices": len(ids)})


# ---------------------------------------------------------------------------------------------
# "Letter delivered" notices


def _notice_targets(
    session: Session, campaign: Campaign, letters: dict[str, Letter]
) -> list[tuple[Invitation, Contact]]:
    """The contact of each listed signatory that may still get mail.

    The contact whose reply signed (its invitation) is told; an unsubscribed invitation, a
    bounced address or a suppressed one gets nothing.
    """
    listed = {s.organisation_id for letter in letters.values() for s in letter.signatories}
    if not listed:
        return []
    signatures = session.scalars(
        select(Signature).where(
            Signature.campaign_id == campaign.id,
            Signature.state == SignatureState.ACTIVE.value,
            Signature.organisation_id.in_(sorted(listed)),
        )
    ).all()
    targets: list[tuple[Invitation, Contact]] = []
    for signature in signatures:
        invitation = (
            session.get(Invitation, signature.invitation_id) if signature.invitation_id else None
        )
        if invitation is None:
            invitation = session.scalars(
                select(Invitation)
                .join(Contact, Contact.id == Invitation.contact_id)
                .where(
                    Invitation.campaign_id == campaign.id,
                    Invitation.organisation_id == signature.organisation_id,
                    Invitation.state == InvitationState.SIGNED.value,
                )
                .order_by(Contact.position, Invitation.id)
            ).first()
        if invitation is None:
            log.warning("signature %s has no invitation to notify", signature.id)
            continue
        contact = invitation.contact
        if invitation.state == InvitationState.UNSUBSCRIBED.value:
            continue
        if contact.address_state == "bounced":
            continue
        targets.append((invitation, contact))
    blocked = _suppressed(session, [c.email for _, c in targets])
    return [(i, c) for i, c in targets if c.email.lower() not in blocked]


def queue_notices(session: Session, campaign: Campaign, *, now: datetime) -> list[int]:
    """Queue one "delivered" notice per signatory contact, with the PDF of its language."""
    from worker.settings import get_settings

    row = final_row(session, campaign.id)
    if row is None or row.raw is None:
        return []
    pdfs = attached_pdfs(row.raw)
    letters = build_letters(session, campaign)
    secret = get_settings().secret()
    sender = definition_value(campaign, "sender")
    recipient = definition_value(campaign, "ministry", "recipient")
    ids: list[int] = []
    for invitation, contact in _notice_targets(session, campaign, letters):
        lang = invitation.language or contact.language
        if lang not in letters:
            lang = next(iter(letters))
        filename = pdf_filename(campaign, lang)
        pdf = pdfs.get(filename)
        letter = letters[lang]
        listed = next(
            (s.name for s in letter.signatories if s.organisation_id == invitation.organisation_id),
            None,
        )
        if pdf is None or listed is None:
            continue
        context = contact_context(
            campaign,
            invitation,
            kind=NOTICE_KIND,
            secret=secret,
            extra={
                "listed_name": listed,
                "count": letter.count,
                "signatory_count_text": letter_context_count(letter.count, lang),
                "recipient_name": localised(recipient.get("name"), lang),
                "recipient_title": localised(recipient.get("title"), lang),
                "pdf_name": filename,
            },
        )
        rendered = render_email(NOTICE_KIND, lang, context)
        token: str = context["token"]
        message_id = tokens.message_id(token, NOTICE_KIND, 0, sender["reply_domain"])
        raw = compose(
            sender=(localised(sender["name"], lang), sender["address"]),
            to=[(context["display_name"], contact.email)],
            reply_to=context["reply_address"],
            subject=rendered.subject,
            text=rendered.text,
            html=rendered.html,
            message_id=message_id,
            date=now,
            headers={
                "List-Unsubscribe": f"<{context['unsubscribe_mailto']}>",
                "Content-Language": lang,
                "Auto-Submitted": "auto-generated",
                "X-Auto-Response-Suppress": "All",
            },
            attachments=[Attachment(filename, pdf)],
        )
        prepared = PreparedEmail(
            envelope_from=tokens.sender_bounce_address(sender, token),
            recipients=(contact.email,),
            message_id=message_id,
            subject=rendered.subject,
            language=lang,
            raw=raw,
        )
        notice = queue_email(
            session,
            campaign_id=campaign.id,
            kind=NOTICE_KIND,
            sequence=0,
            prepared=prepared,
            contact_id=contact.id,
            invitation_id=invitation.id,
            dedupe_key=notice_dedupe_key(campaign.id, contact.id),
        )
        if notice is not None and notice.state == OutboxState.QUEUED.value:
            ids.append(notice.id)
    publish_after_commit(session, ids)
    return ids


def letter_context_count(count: int, lang: str) -> str:
    from worker.actions.letter import count_text

    return count_text(count, lang)


# ---------------------------------------------------------------------------------------------
# A person's decisions: approve, resolve


def campaign_by_slug(session: Session, slug: str) -> Campaign:
    campaign = session.scalars(select(Campaign).where(Campaign.slug == slug)).first()
    if campaign is None:
        raise NotFound(f"no campaign {slug!r}; see `outreach campaign list`")
    return campaign


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
            AuditLog.action.in_(["final_letter.prepared", "final_letter.rebuilt"]),
        )
        .order_by(AuditLog.id.desc())
    ).first()
    digests = (prepared_detail or {}).get("digests") or {}
    if digests == {lang: letter.digest() for lang, letter in letters.items()}:
        return False
    prepared, letters, pdfs = build_final_email(session, campaign, now)
    row.raw = prepared.raw
    row.recipients = list(prepared.recipients)
    row.subject = prepared.subject
    row.updated_at = now
    audit.record(
        session,
        actor=ACTOR,
        entity="outbound_message",
        entity_id=row.id,
        campaign_id=campaign.id,
        action="final_letter.rebuilt",
        from_state=row.state,
        to_state=row.state,
        detail={"outbox_id": row.id, "previous_digests": digests, **_letter_detail(letters, pdfs)},
    )
    return True


def raw_sha256(row: OutboundMessage) -> str:
    return hashlib.sha256(row.raw or b"").hexdigest()


def approve(
    session: Session, campaign: Campaign, *, actor: str, now: datetime, expected_sha256: str | None
) -> OutboundMessage:
    """AWAITING_APPROVAL -> DELIVERING: the held final letter is queued, as the lead saw it.

    `expected_sha256` is the hash of the message the lead was shown; if it changed since, the
    approval is refused (look again). The caller commits; the send is published after commit.
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
    audit.move(
        session, row, OUTBOX_TRANSITIONS, OutboxState.QUEUED, actor=actor, action="approved",
    )  # fmt: skip
    row.next_attempt_at = now
    row.updated_at = now
    campaign.approved_at = now
    campaign.approved_by = actor
    audit.move(
        session, campaign, CAMPAIGN_TRANSITIONS, CampaignState.DELIVERING,
        actor=actor, action="final_letter.approved",
        detail={"outbox_id": row.id, "raw_sha256": raw_sha256(row)},
    )  # fmt: skip
    publish_after_commit(session, [row.id])
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
            action="resolved_sent", detail={"previous_reply": row.last_smtp_reply},
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
    audit.move(
        session, row, OUTBOX_TRANSITIONS, OutboxState.QUEUED, actor=actor, action="resolved_resend",
    )  # fmt: skip
    row.next_attempt_at = now
    row.lease_until = None
    row.claimed_by = None
    row.updated_at = now
    publish_after_commit(session, [row.id])
    return Outcome(campaign.state, "resolved_resend", [row.id])

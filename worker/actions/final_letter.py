"""The final letter's building blocks: its outbox row, the email with both PDFs (composed by
worker/mail/outgoing.py like every other email) and the "delivered" notices to signatories."""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from worker.actions import audit
from worker.actions.letter import (
    build_letters,
    build_signatories,
    count_text,
    letter_context,
    pdf_filename,
)
from worker.actions.outbox import make_dedupe_key, publish_after_commit, queue_email
from worker.actions.suppression import suppressed_among
from worker.core.audit_actions import AuditAction
from worker.core.letter import Letter
from worker.core.states import InvitationState, OutboxState, SignatureState
from worker.errors import Problem, UserError
from worker.mail.compose import Attachment
from worker.mail.context import definition_value, localised
from worker.mail.outgoing import FINAL_KIND as FINAL_KIND
from worker.mail.outgoing import (
    PreparedEmail,
    prepare_contact_email,
    prepare_ministry_email,
)
from worker.mail.pdf import render_letter_pdf
from worker.models import (
    AuditLog,
    Campaign,
    Contact,
    InboundMessage,
    Invitation,
    OutboundMessage,
    Signature,
)

log = logging.getLogger(__name__)

NOTICE_KIND = "delivered_notice"


def final_dedupe_key(campaign_id: int) -> str:
    return make_dedupe_key(campaign_id, None, FINAL_KIND, 0)


def notice_dedupe_key(campaign_id: int, contact_id: int) -> str:
    return make_dedupe_key(campaign_id, contact_id, NOTICE_KIND, 0)


def final_row(session: Session, campaign_id: int) -> OutboundMessage | None:
    return session.scalars(
        select(OutboundMessage).where(OutboundMessage.dedupe_key == final_dedupe_key(campaign_id))
    ).first()


def mail_language(campaign: Campaign) -> str:
    """The ministry is Japanese: its covering email is in Japanese when the campaign has it."""
    languages = list(campaign.languages or ["en"])
    return "ja" if "ja" in languages else languages[0]


def suppressed(session: Session, addresses: list[str]) -> set[str]:
    """Which of these addresses are suppressed (the one check: actions/suppression.py)."""
    return suppressed_among(session, addresses)


def build_final_email(
    session: Session, campaign: Campaign, now: datetime
) -> tuple[PreparedEmail, dict[str, Letter], dict[str, bytes]]:
    """The final email to the ministry with one PDF per language, as it would go out now.

    To: the ministry's recipient. Cc: the coordinators and ministry.cc (suppressed addresses
    left out). Every part (subject, body, both PDFs) renders the one signatory list.
    """
    letters = build_letters(session, campaign)
    recipient = definition_value(campaign, "ministry", "recipient")
    to_addr = str(recipient["email"])
    if suppressed(session, [to_addr]):
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
    blocked = suppressed(session, cc_candidates)
    cc: list[str] = []
    for address in cc_candidates:
        lowered = address.lower()
        if lowered != to_addr.lower() and lowered not in blocked and lowered not in cc:
            cc.append(lowered)

    pdfs: dict[str, bytes] = {}
    for lang in letters:
        context = letter_context(session, campaign, lang, now, letters=letters)
        pdfs[lang] = render_letter_pdf(context)
    lang = mail_language(campaign)
    context = letter_context(session, campaign, lang, now, letters=letters)
    context["pdf_names"] = [pdf_filename(campaign, code) for code in pdfs]
    name = localised(recipient.get("name"), lang)
    title = localised(recipient.get("title"), lang)
    display = (f"{title} {name} 様" if title else f"{name} 様") if lang == "ja" else name
    prepared = prepare_ministry_email(
        campaign,
        context,
        to=(display, to_addr),
        cc=cc,
        attachments=[Attachment(pdf_filename(campaign, code), data) for code, data in pdfs.items()],
        now=now,
    )
    return prepared, letters, pdfs


def letter_detail(letters: dict[str, Letter], pdfs: dict[str, bytes]) -> dict[str, Any]:
    first = next(iter(letters.values()), None)
    return {
        "counts": {lang: letter.count for lang, letter in letters.items()},
        "list_hash": first.list_hash if first else "",
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


def raw_sha256(row: OutboundMessage) -> str:
    return hashlib.sha256(row.raw or b"").hexdigest()


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
    blocked = suppressed(session, [c.email for _, c in targets])
    return [(i, c) for i, c in targets if c.email.lower() not in blocked]


def queue_late_outcomes(session: Session, campaign: Campaign, *, now: datetime) -> list[int]:
    """After delivery, each late signer the lead did not add hears, once, that the letter went
    without it (held until now so it is never told "not added" and then "listed")."""
    from worker.settings import get_settings

    listed = build_signatories(session, campaign).organisation_ids
    invitations = session.scalars(
        select(Invitation)
        .join(InboundMessage, InboundMessage.invitation_id == Invitation.id)
        .where(
            Invitation.campaign_id == campaign.id,
            InboundMessage.is_late.is_(True),
            InboundMessage.intent == "sign",
        )
        .distinct()
    ).all()
    ids: list[int] = []
    for invitation in invitations:
        contact = invitation.contact
        if (
            invitation.organisation_id in listed
            or invitation.state == InvitationState.UNSUBSCRIBED.value
            or contact.address_state == "bounced"
            or suppressed(session, [contact.email])
        ):
            continue
        prepared = prepare_contact_email(
            campaign, invitation, "late_reply", 0, secret=get_settings().secret(), now=now
        )
        row = queue_email(
            session, campaign_id=campaign.id, kind="late_reply", sequence=0, prepared=prepared,
            contact_id=contact.id, invitation_id=invitation.id,
        )  # fmt: skip
        if row is not None and row.state == OutboxState.QUEUED.value:
            ids.append(row.id)
    publish_after_commit(session, ids)
    return ids


def queue_notices(session: Session, campaign: Campaign, *, now: datetime) -> list[int]:
    """Queue one "delivered" notice per signatory contact, with the PDF of its language; the
    notice prints the organisation's line exactly as the letter of that language prints it."""
    from worker.settings import get_settings

    row = final_row(session, campaign.id)
    if row is None or row.raw is None:
        return []
    pdfs = attached_pdfs(row.raw)
    letters = build_letters(session, campaign)
    secret = get_settings().secret()
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
        prepared = prepare_contact_email(
            campaign,
            invitation,
            NOTICE_KIND,
            0,
            secret=secret,
            now=now,
            extra={
                "listed_name": listed,
                "count": letter.count,
                "signatory_count_text": count_text(letter.count, lang),
                "recipient_name": localised(recipient.get("name"), lang),
                "recipient_title": localised(recipient.get("title"), lang),
                "pdf_name": filename,
            },
            attachments=[Attachment(filename, pdf)],
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


def record_preview(session: Session, campaign: Campaign, *, actor: str) -> dict[str, Any]:
    """Note that `actor` was shown the signatory list as it stands (its count and hash): the
    approval compares against the last such preview."""
    signatories = build_signatories(session, campaign)
    seen = {"count": signatories.count, "list_hash": signatories.digest()}
    audit.record(
        session, actor=actor, entity="campaign", entity_id=campaign.id, campaign_id=campaign.id,
        action=AuditAction.LETTER_PREVIEWED, detail=seen,
    )  # fmt: skip
    return seen


def last_preview(session: Session, campaign: Campaign) -> dict[str, Any] | None:
    detail: dict[str, Any] | None = session.scalars(
        select(AuditLog.detail)
        .where(AuditLog.campaign_id == campaign.id, AuditLog.action == AuditAction.LETTER_PREVIEWED)
        .order_by(AuditLog.id.desc())
    ).first()
    return detail


def check_list(
    session: Session, campaign: Campaign, expected_list_hash: str | None, *, message_shown: bool
) -> None:
    """1. nothing that must be fixed first (a missing name, two rows for one organisation);
    2. the list is the one the lead last previewed (count and hash), or the one given; with
       no preview at all, only a caller that showed the exact message (its SHA-256) may go on."""
    signatories = build_signatories(session, campaign)
    if signatories.blocking:  # 1
        raise UserError(
            f"campaign {campaign.slug}: the signatory list must be fixed before approval "
            f"(`outreach campaign check {campaign.slug}` lists it):\n"
            + "\n".join(f"  - {p.message}" for p in signatories.blocking)
        )
    seen = last_preview(session, campaign)
    wanted = expected_list_hash or (seen or {}).get("list_hash")
    if wanted is None and message_shown:  # 2
        return
    if wanted is None:
        raise UserError(
            f"campaign {campaign.slug}: nobody has previewed the signatory list; run "
            f"`outreach campaign approve {campaign.slug}` (it shows the list first)"
        )
    if wanted != signatories.digest():
        before = f"{seen['count']} organisations, " if seen and not expected_list_hash else ""
        raise UserError(
            f"campaign {campaign.slug}: the signatory list changed since it was previewed "
            f"({before}list hash {wanted[:16]}; now {signatories.count} organisations, "
            f"{signatories.digest()[:16]}); look at it again before approving"
        )

"""Read model of the preview page: the exact email each contact would get, before sending."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from worker.actions.check_campaign import invitation_for
from worker.actions.overview import campaign_or_404
from worker.actions.threads import body_text
from worker.errors import UserError
from worker.mail.context import CONTACT_KINDS
from worker.mail.outgoing import prepare_contact_email
from worker.models import Contact, Organisation

MAX_PREVIEWS = 300  # a page shows at most this many (the CLI's `outreach preview` has them all)
KINDS = CONTACT_KINDS


@dataclass(frozen=True)
class EmailPreview:
    organisation: str
    contact: str
    language: str
    envelope_from: str
    subject: str
    text: str  # the text part, as the contact's mail client shows it


def preview_emails(
    session: Session, slug: str, *, kind: str, secret: bytes, now: datetime
) -> list[EmailPreview]:
    """Every contact's email of `kind`, rendered exactly as it would be sent (nothing stored)."""
    if kind not in KINDS:
        raise UserError(f"unknown email kind {kind!r}; use one of {', '.join(KINDS)}")
    campaign = campaign_or_404(session, slug)
    contacts = session.scalars(
        select(Contact)
        .join(Organisation, Organisation.id == Contact.organisation_id)
        .where(Contact.campaign_id == campaign.id, Organisation.is_coordinator.is_(False))
        .order_by(Organisation.name_en, Contact.position)
        .limit(MAX_PREVIEWS)
    ).all()
    previews: list[EmailPreview] = []
    with session.no_autoflush:
        for contact in contacts:
            invitation = invitation_for(session, campaign, contact, secret)
            prepared = prepare_contact_email(campaign, invitation, kind, 0, secret=secret, now=now)
            org = contact.organisation
            previews.append(EmailPreview(
                org.name_en or org.name_ja or org.key, contact.email, prepared.language,
                prepared.envelope_from, prepared.subject, body_text(prepared.raw),
            ))  # fmt: skip
    session.rollback()
    return previews

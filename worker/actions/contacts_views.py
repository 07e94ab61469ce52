"""Read model of a campaign's contacts: organisations in gojūon order, with their addresses."""

from __future__ import annotations

from dataclasses import dataclass, field

import icu
from sqlalchemy import select
from sqlalchemy.orm import Session

from worker.actions.campaigns import find_campaign
from worker.models import Contact, Invitation, Organisation


@dataclass(frozen=True)
class AddressRow:
    email: str
    language: str
    invitation: str  # the invitation's state, "-" when the address has none


@dataclass
class OrganisationRow:
    key: str
    is_coordinator: bool
    name_ja: str | None
    name_en: str | None
    reading: str | None
    reading_from_analyser: bool
    addresses: list[AddressRow] = field(default_factory=list)


def contact_rows(session: Session, slug: str) -> list[OrganisationRow]:
    """Organisations in gojūon order of their reading (those without one last), each with its
    addresses in the order they are tried."""
    campaign = find_campaign(session, slug)
    orgs = session.scalars(select(Organisation).where(Organisation.campaign_id == campaign.id))
    contacts = session.scalars(select(Contact).where(Contact.campaign_id == campaign.id)).all()
    invitations = {
        i.contact_id: i.state
        for i in session.scalars(select(Invitation).where(Invitation.campaign_id == campaign.id))
    }
    by_org: dict[int, list[AddressRow]] = {}
    for contact in sorted(contacts, key=lambda x: (x.position, x.email)):
        by_org.setdefault(contact.organisation_id, []).append(
            AddressRow(contact.email, contact.language, invitations.get(contact.id, "-"))
        )
    collator = icu.Collator.createInstance(icu.Locale("ja_JP"))

    def gojuon(o: Organisation) -> tuple[int, bytes, str]:
        return (0 if o.reading else 1, collator.getSortKey(o.reading or o.name_en or o.key), o.key)

    return [
        OrganisationRow(
            org.key,
            bool(org.is_coordinator),
            org.name_ja,
            org.name_en,
            org.reading,
            org.reading_source == "analyser",
            by_org.get(org.id, []),
        )
        for org in sorted(orgs, key=gojuon)
    ]

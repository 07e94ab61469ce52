"""A lead confirms the reading an organisation is filed under in the Japanese letter."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from worker.actions import audit
from worker.core.audit_actions import AuditAction
from worker.core.readings import is_kana, katakana_to_hiragana
from worker.errors import NotFound, UserError
from worker.models import Campaign, Organisation, Signature


def confirm_reading(
    session: Session, campaign: Campaign, org_key: str, reading: str, *, actor: str
) -> str:
    """The lead confirms (or corrects) the kana reading an organisation is filed under in the
    Japanese letter: its name's reading, or, after a rename, the reading of the listed name.
    Returns what was set, for the CLI."""
    org = session.scalars(
        select(Organisation).where(
            Organisation.campaign_id == campaign.id, Organisation.key == org_key
        )
    ).first()
    if org is None:
        raise NotFound(f"no organisation {org_key!r} in campaign {campaign.slug}; see "
                       f"`outreach contacts list {campaign.slug}`")  # fmt: skip
    text = katakana_to_hiragana(reading.strip()).replace(" ", "").replace("・", "")
    if not text or not is_kana(text):
        raise UserError(f"{reading!r} is not kana: write the reading in hiragana, e.g. にほん")
    signature = session.scalars(
        select(Signature).where(Signature.organisation_id == org.id)
    ).first()
    renamed = signature is not None and bool(signature.listed_name_ja) and (
        signature.listed_name_ja != org.name_ja
    )
    if renamed and signature is not None:
        before, signature.listed_reading = signature.listed_reading, text
        what = f"{signature.listed_name_ja} (listed name) reads {text}"
    else:
        before, org.reading = org.reading, text
        org.reading_source, org.reading_confirmed_by = "lead", actor
        what = f"{org.name_ja or org.name_en} reads {text}"
    audit.record(
        session, actor=actor, entity="organisation", entity_id=org.id, campaign_id=campaign.id,
        action=AuditAction.READING_CONFIRMED,
        detail={"before": before, "reading": text, "renamed": renamed},
    )  # fmt: skip
    return what

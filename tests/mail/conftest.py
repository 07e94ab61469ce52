"""Small factories: a campaign with an English and a Japanese contact, inserted directly."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy.orm import Session

from worker.core import tokens
from worker.core.definition import CampaignDefinition
from worker.models import Campaign, Contact, Invitation, Organisation

SECRET = b"test-secret-key-not-for-production"
NOW = datetime(2024, 5, 21, 1, 0, tzinfo=UTC)

DEFINITION: dict[str, Any] = {
    "slug": "mail-test",
    "title": {"en": "Joint letter on the ICC", "ja": "ICCの独立性を守るための共同書簡"},
    "languages": ["en", "ja"],
    "timezone": "Asia/Tokyo",
    "letter": {"en": "letter.en.md", "ja": "letter.ja.md"},
    "coordinators": [
        {"name": {"en": "Human Rights Now", "ja": "ヒューマン・ライツ・ナウ"}, "lead": True}
    ],
    "ministry": {
        "recipient": {"name": {"en": "Ms. Yoko Kamikawa", "ja": "上川陽子"},
                      "email": "minister@mofa.example"},
    },
    "sender": {
        "name": {"en": "Human Rights Now", "ja": "ヒューマン・ライツ・ナウ"},
        "address": "signon@hrn.example",
        "reply_local_part": "signon",
        "reply_domain": "hrn.example",
        "lead_email": "lead@hrn.example",
    },
    "schedule": {
        "invite_at": "2024-05-21T10:00:00+09:00",
        "deadline": "2024-05-29T17:00:00+09:00",
    },
}  # fmt: skip
LETTER = {
    "en": "# Joint letter\n\nWe urge Japan to *protect* the court's independence.\n",
    "ja": "# 共同書簡\n\n日本政府は国際刑事裁判所の独立性を**守る**べきです。\n",
}


def make_campaign(session: Session) -> Campaign:
    definition = CampaignDefinition.model_validate(DEFINITION).model_dump(mode="json")
    definition["letter_text"] = dict(LETTER)
    campaign = Campaign(
        slug="mail-test",
        title=DEFINITION["title"]["en"],
        timezone="Asia/Tokyo",
        languages=["en", "ja"],
        invite_at=datetime(2024, 5, 21, 1, 0, tzinfo=UTC),
        deadline=datetime(2024, 5, 29, 8, 0, tzinfo=UTC),
        definition=definition,
        definition_hash="0" * 64,
        letter_hash="0" * 64,
        source_path="config/campaigns/mail-test.yaml",
    )
    session.add(campaign)
    session.flush()
    return campaign


def make_invitation(
    session: Session,
    campaign: Campaign,
    *,
    key: str,
    email: str,
    language: str,
    name_en: str | None,
    name_ja: str | None,
    person: str | None = None,
    reading: str | None = None,
) -> Invitation:
    org = Organisation(
        campaign_id=campaign.id,
        key=key,
        name_en=name_en,
        name_ja=name_ja,
        reading=reading,
        language=language,
    )
    session.add(org)
    session.flush()
    contact = Contact(
        campaign_id=campaign.id,
        organisation_id=org.id,
        email=email,
        person_name=person,
        language=language,
    )
    session.add(contact)
    session.flush()
    invitation = Invitation(
        campaign_id=campaign.id,
        organisation_id=org.id,
        contact_id=contact.id,
        token=tokens.make_token(SECRET, campaign.slug, email),
        language=language,
    )
    session.add(invitation)
    session.flush()
    return invitation


@pytest.fixture
def campaign(session: Session) -> Campaign:
    return make_campaign(session)


@pytest.fixture
def ja_invitation(session: Session, campaign: Campaign) -> Invitation:
    return make_invitation(
        session,
        campaign,
        key="hrn",
        email="info@hrn-member.example",
        language="ja",
        name_en="Human Rights Now",
        name_ja="特定非営利活動法人ヒューマン・ライツ・ナウ",
        reading="ひゅーまんらいつなう",
    )


@pytest.fixture
def en_invitation(session: Session, campaign: Campaign) -> Invitation:
    return make_invitation(
        session,
        campaign,
        key="hrw",
        email="tokyo@hrw.example",
        language="en",
        name_en="Human Rights Watch",
        name_ja="ヒューマン・ライツ・ウォッチ",
        person="Kanae Doi",
        reading="ひゅーまんらいつうぉっち",
    )

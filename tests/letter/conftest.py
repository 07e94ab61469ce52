"""Fixtures for the final letter: the seed campaign, its NGOs imported, signatures inserted."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from support.smtp_sink import SmtpSink

from worker.actions.import_contacts import import_contacts
from worker.actions.load_campaign import load_campaign
from worker.models import Campaign, Invitation, Organisation, Signature

REPO = Path(__file__).resolve().parents[2]
SEED_YAML = REPO / "config" / "campaigns" / "icc-2024.yaml"
SEED_CSV = REPO / "config" / "campaigns" / "icc-2024.contacts.csv"
SECRET = b"test-secret-key-not-for-production"
REDIS_URL = os.environ.get(
    "OUTREACH_TEST_REDIS_URL",
    f"redis://127.0.0.1:6379/{os.environ.get('OUTREACH_TEST_REDIS_DB', '15')}",
)
SIGNED_AT = datetime(2024, 5, 25, 3, 0, tzinfo=UTC)


@pytest.fixture
def seed_campaign(session: Session) -> Campaign:
    """The seed campaign (icc-2024) with its 27 NGOs, nobody signed yet."""
    load_campaign(session, SEED_YAML, actor="test")
    import_contacts(session, "icc-2024", SEED_CSV, secret=SECRET, actor="test")
    session.commit()
    campaign = session.scalars(select(Campaign).where(Campaign.slug == "icc-2024")).one()
    return campaign


def sign(
    session: Session,
    campaign: Campaign,
    keys: Iterable[str] | None = None,
    *,
    at: datetime = SIGNED_AT,
    **fields: object,
) -> list[Signature]:
    """Insert an active signature for each organisation key (all when None), as intake would."""
    query = select(Organisation).where(Organisation.campaign_id == campaign.id)
    if keys is not None:
        query = query.where(Organisation.key.in_(list(keys)))
    made = []
    for n, org in enumerate(session.scalars(query.order_by(Organisation.id)).all()):
        invitation = session.scalars(
            select(Invitation).where(Invitation.organisation_id == org.id).order_by(Invitation.id)
        ).first()
        values: dict[str, object] = {
            "campaign_id": campaign.id,
            "organisation_id": org.id,
            "invitation_id": invitation.id if invitation else None,
            "state": "active",
            "from_addr": invitation.contact.email if invitation else None,
            "reply_message_id": f"<reply-{org.key}@ngo.example>",
            "received_at": at + timedelta(minutes=n),
            "auth_results": "mx.hrn.example; dmarc=pass header.from=ngo.example",
            "decided_by": "rule:explicit-sign",
            "letter_hash": campaign.letter_hash,
            "signed_at": at + timedelta(minutes=n),
        }
        values.update(fields)
        signature = Signature(**values)
        session.add(signature)
        made.append(signature)
    session.commit()
    return made


def freeze(session: Session, campaign: Campaign, at: datetime | None = None) -> None:
    """What the deadline scan does: open -> closing with frozen_at, in one statement."""
    campaign.state = "closing"
    campaign.frozen_at = at or campaign.deadline
    session.commit()


@pytest.fixture(autouse=True, scope="session")
def _broker_is_test_redis() -> Iterator[None]:
    """Tasks published from tests go to this area's Redis DB, never to a data folder."""
    import redis

    from worker.celery_app import app

    app.conf.broker_url = REDIS_URL
    app.conf.broker_transport_options = {"visibility_timeout": 3600}
    redis.Redis.from_url(REDIS_URL).flushdb()
    yield
    redis.Redis.from_url(REDIS_URL).flushdb()


@pytest.fixture
def sink(tmp_path: Path) -> Iterator[SmtpSink]:
    """A real SMTP server (aiosmtpd) in its own process."""
    server = SmtpSink(tmp_path / "sink").start()
    yield server
    server.stop()

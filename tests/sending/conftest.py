"""Fixtures for the sending tests: campaigns built as the loaders leave them, a real SMTP sink,
real Celery worker and beat processes on Redis (this area's own Redis DB)."""

from __future__ import annotations

import copy
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest
import redis
from sqlalchemy.orm import Session
from support.celery_processes import REDIS_URL, REPO, Processes, wait_until
from support.smtp_sink import SmtpSink

from worker.core.tokens import make_token
from worker.models import Campaign, Contact, Invitation, Organisation

SECRET = b"test-secret-key-not-for-production"
__all__ = ["REDIS_URL", "SECRET", "Processes", "build_campaign", "wait_until"]


@lru_cache(maxsize=1)
def _stored_definition() -> dict[str, Any]:
    from worker.actions.load_campaign import read_definition

    return read_definition(REPO / "config" / "campaigns" / "icc-2024.yaml").stored


def build_campaign(
    session: Session,
    n: int,
    *,
    slug: str = "send-test",
    invite_at: datetime | None = None,
    deadline: datetime | None = None,
    state: str = "open",
    quiet_hours: tuple[str, str] = ("00:00", "00:00"),  # equal: none (tests run at any hour)
    timezone: str = "Asia/Tokyo",
) -> Campaign:
    """A campaign with `n` organisations, one contact and one pending invitation each."""
    now = datetime.now(UTC)
    invite_at = invite_at or now - timedelta(minutes=1)
    deadline = deadline or now + timedelta(days=10)
    definition = copy.deepcopy(_stored_definition())
    definition["slug"] = slug
    definition["timezone"] = timezone
    definition["schedule"]["invite_at"] = invite_at.isoformat()
    definition["schedule"]["deadline"] = deadline.isoformat()
    definition["schedule"]["quiet_hours"] = {"start": quiet_hours[0], "end": quiet_hours[1]}
    campaign = Campaign(
        slug=slug,
        title=definition["title"]["en"],
        state=state,
        timezone=timezone,
        languages=definition["languages"],
        invite_at=invite_at,
        deadline=deadline,
        requires_approval=True,
        definition=definition,
        definition_hash="d" * 64,
        letter_hash="l" * 64,
    )
    session.add(campaign)
    session.flush()
    orgs = [
        Organisation(
            campaign_id=campaign.id,
            key=f"org{i:04d}",
            name_en=f"NGO number {i}",
            name_ja=f"団体{i}",
            language="ja" if i % 3 == 0 else "en",
        )
        for i in range(n)
    ]
    session.add_all(orgs)
    session.flush()
    contacts = [
        Contact(
            campaign_id=campaign.id,
            organisation_id=org.id,
            email=f"ngo{i:04d}@ngo{i:04d}.example",
            language=org.language,
        )
        for i, org in enumerate(orgs)
    ]
    session.add_all(contacts)
    session.flush()
    session.add_all(
        Invitation(
            campaign_id=campaign.id,
            organisation_id=contact.organisation_id,
            contact_id=contact.id,
            token=make_token(SECRET, slug, contact.email),
            language=contact.language,
        )
        for contact in contacts
    )
    session.commit()
    return campaign


@pytest.fixture(autouse=True, scope="session")
def _broker_is_test_redis() -> Iterator[None]:
    """Tasks published from this process go to this area's Redis DB, never to a data folder."""
    from worker.celery_app import app

    app.conf.broker_url = REDIS_URL
    app.conf.broker_transport_options = {"visibility_timeout": 3600}
    redis.Redis.from_url(REDIS_URL).flushdb()
    yield
    redis.Redis.from_url(REDIS_URL).flushdb()


@pytest.fixture
def redis_db() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    yield client
    client.flushdb()


@pytest.fixture
def sink(tmp_path: Path) -> Iterator[SmtpSink]:
    server = SmtpSink(tmp_path / "sink").start()
    yield server
    server.stop()


@pytest.fixture
def celery_env(env: dict[str, str], sink: SmtpSink, redis_db: redis.Redis) -> dict[str, str]:
    """Environment for worker and beat processes: this test's database, Redis DB and sink."""
    values = {
        **os.environ,
        **env,
        "OUTREACH_BROKER_URL": REDIS_URL,
        "OUTREACH_SMTP_URL": sink.url,
        "OUTREACH_SMTP_RATE_PER_MINUTE": "600000",
        "OUTREACH_SCAN_INTERVAL_SECONDS": "0.5",
        "OUTREACH_OUTBOX_LEASE_SECONDS": "3",
        "OUTREACH_DISPATCH_WINDOW_SECONDS": "5",
        "OUTREACH_OUTBOX_RETRY_BASE_SECONDS": "0.3",
        "OUTREACH_OUTBOX_BATCH_SIZE": "20",
        "OUTREACH_IMAP_URL": "",
        "PYTHONPATH": str(REPO),
    }
    return values


@pytest.fixture
def celery(celery_env: dict[str, str], tmp_path: Path) -> Iterator[Processes]:
    processes = Processes(celery_env, tmp_path)
    yield processes
    processes.stop_all()

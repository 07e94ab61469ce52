"""One bounce path: a 550 from the relay does what a bounce email does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import redis
from sqlalchemy import select
from sqlalchemy.orm import Session
from support.replies import text_of
from support.smtp_sink import SmtpSink

from worker.actions import outbox, scan
from worker.core.retry import RetryPolicy
from worker.core.states import InvitationState
from worker.db import session_factory
from worker.mail.smtp import Sender
from worker.models import Contact, Invitation, OutboundMessage, Suppression
from worker.settings import SmtpTarget

from .conftest import SECRET, build_campaign

LEASE = timedelta(seconds=60)


def test_a_550_from_the_relay_invites_the_next_address_and_tells_the_lead(
    session: Session, env: dict[str, str], sink: SmtpSink, redis_db: redis.Redis
) -> None:
    campaign = build_campaign(session, 1)
    first = session.scalars(select(Contact)).one()
    session.add(
        Contact(
            campaign_id=campaign.id,
            organisation_id=first.organisation_id,
            email="backup@ngo0000.example",
            language=first.language,
            position=1,
        )
    )
    session.commit()
    sink.set_rules({"reject": {first.email: 550}})
    factory = session_factory(env["OUTREACH_DATABASE_URL"])
    now = datetime.now(UTC)
    scan.scan_due(factory, now=now, secret=SECRET, lease=LEASE, chunk=20)
    ids = list(session.scalars(select(OutboundMessage.id)))
    sender = Sender(SmtpTarget(scheme="smtp", host="127.0.0.1", port=sink.port), timeout=10)
    report = outbox.send_batch(
        factory, ids, sender=sender, limiter=None, lease=LEASE,
        policy=RetryPolicy(window=timedelta(hours=2), base=timedelta(seconds=60)),
        clock=lambda: now + timedelta(seconds=1),
    )  # fmt: skip
    assert report.failed == 1 and report.bounced_contacts == [first.id]
    session.expire_all()
    # As for a bounce email: address suppressed, invitation replaced by the next address's...
    assert session.scalars(select(Suppression.email)).all() == [first.email]
    old, new = session.scalars(select(Invitation).order_by(Invitation.id)).all()
    assert old.state == InvitationState.REPLACED.value
    assert new.contact.email == "backup@ngo0000.example"
    assert new.state == InvitationState.PENDING.value
    # ... and the lead hears of it, with the relay's answer and the next address.
    (bounce_report,) = session.scalars(
        select(OutboundMessage).where(OutboundMessage.kind == "bounce_report")
    ).all()
    text = text_of(bounce_report.raw or b"")
    assert "backup@ngo0000.example" in text and first.email in text and "550" in text

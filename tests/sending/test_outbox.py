"""Outbox and scan actions on a real database (SQLite and PostgreSQL) and a real SMTP server."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path

import pytest
import redis
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from support.smtp_sink import SmtpSink

from worker.actions import outbox, scan
from worker.core.audit_actions import AuditAction
from worker.core.retry import RetryPolicy
from worker.core.states import CampaignState, InvitationState, OutboxState
from worker.db import session_factory
from worker.mail.outgoing import prepare_contact_email
from worker.mail.smtp import Envelope, Sender
from worker.models import (
    AuditLog,
    Campaign,
    Contact,
    Invitation,
    OutboundMessage,
    Suppression,
)
from worker.ratelimit import Pacer, RedisRateLimiter
from worker.settings import SmtpTarget

from .conftest import REDIS_URL, SECRET, build_campaign

LEASE = timedelta(seconds=60)
WINDOW_2H = RetryPolicy(window=timedelta(hours=2), base=timedelta(seconds=60))


def _factory(env: dict[str, str]) -> sessionmaker[Session]:
    return session_factory(env["OUTREACH_DATABASE_URL"])


def _scan(env: dict[str, str], now: datetime) -> scan.ScanPlan:
    return scan.scan_due(_factory(env), now=now, secret=SECRET, lease=LEASE, chunk=20)


def _sender(sink: SmtpSink) -> Sender:
    return Sender(SmtpTarget(scheme="smtp", host="127.0.0.1", port=sink.port), timeout=10)


def _count(session: Session, *where: object) -> int:
    return int(session.scalar(select(func.count(OutboundMessage.id)).where(*where)) or 0)  # type: ignore[arg-type]


def test_scan_queues_one_invitation_per_pending_contact_and_marks_them_invited(
    session: Session, env: dict[str, str], redis_db: redis.Redis
) -> None:
    campaign = build_campaign(session, 30)
    now = datetime.now(UTC)
    _scan(env, now)
    _scan(env, now + timedelta(seconds=5))  # a second scan finds nothing new
    session.expire_all()
    rows = session.scalars(select(OutboundMessage)).all()
    assert len(rows) == 30
    assert {r.kind for r in rows} == {"invitation"}
    assert len({r.message_id for r in rows}) == 30
    assert all(r.message_id.startswith("<invitation.0.") for r in rows)
    states = session.scalars(select(Invitation.state).where(Invitation.campaign_id == campaign.id))
    assert set(states) == {InvitationState.INVITED.value}
    audits = session.scalar(
        select(func.count(AuditLog.id)).where(AuditLog.action == AuditAction.INVITED)
    )
    assert audits == 30
    # Published after commit: batches of outbox ids are waiting on the "sending" queue.
    assert redis_db.llen("sending") >= 2


def test_two_scans_at_once_create_no_duplicate_rows(
    session: Session, env: dict[str, str], redis_db: redis.Redis
) -> None:
    build_campaign(session, 40)
    now = datetime.now(UTC)
    barrier = threading.Barrier(3)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            barrier.wait()
            _scan(env, now)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    session.expire_all()
    assert _count(session) == 40
    keys = session.scalars(select(OutboundMessage.dedupe_key)).all()
    assert len(set(keys)) == 40
    invited = AuditLog.action == AuditAction.INVITED
    assert session.scalar(select(func.count(AuditLog.id)).where(invited)) == 40


def test_queue_email_twice_keeps_one_row_and_suppressed_addresses_are_never_sent(
    session: Session, env: dict[str, str], redis_db: redis.Redis
) -> None:
    campaign = build_campaign(session, 2)
    inv = session.scalars(select(Invitation).order_by(Invitation.id)).all()
    now = datetime.now(UTC)
    prepared = prepare_contact_email(campaign, inv[0], "invitation", 0, secret=SECRET, now=now)
    first = outbox.queue_email(
        session, campaign_id=campaign.id, kind="invitation", sequence=0, prepared=prepared,
        contact_id=inv[0].contact_id, invitation_id=inv[0].id,
    )  # fmt: skip
    again = outbox.queue_email(
        session, campaign_id=campaign.id, kind="invitation", sequence=0, prepared=prepared,
        contact_id=inv[0].contact_id, invitation_id=inv[0].id,
    )  # fmt: skip
    assert first is not None and first.state == OutboxState.QUEUED.value
    assert first.dedupe_key == f"{campaign.id}:{inv[0].contact_id}:invitation:0"
    assert again is None
    session.add(Suppression(email=inv[1].contact.email, reason="unsubscribed"))
    session.flush()
    prepared2 = prepare_contact_email(campaign, inv[1], "invitation", 0, secret=SECRET, now=now)
    blocked = outbox.queue_email(
        session, campaign_id=campaign.id, kind="invitation", sequence=0, prepared=prepared2,
        contact_id=inv[1].contact_id,
    )  # fmt: skip
    assert blocked is not None and blocked.state == OutboxState.SUPPRESSED.value
    session.commit()
    claimed = outbox.claim(
        session, [first.id, blocked.id], now=now + timedelta(seconds=1), claimer="t", lease=LEASE
    )
    assert [c.id for c in claimed] == [first.id]


def test_a_claimed_row_is_not_taken_again_until_its_lease_expires(
    session: Session, env: dict[str, str]
) -> None:
    build_campaign(session, 1)
    now = datetime.now(UTC)
    _scan(env, now)
    (row_id,) = session.scalars(select(OutboundMessage.id)).all()
    later = now + timedelta(seconds=1)
    first = outbox.claim(session, [row_id], now=later, claimer="a", lease=LEASE)
    session.commit()
    assert len(first) == 1
    assert outbox.claim(session, [row_id], now=later, claimer="b", lease=LEASE) == []
    expired = later + LEASE + timedelta(seconds=1)
    retaken = outbox.claim(session, [row_id], now=expired, claimer="b", lease=LEASE)
    session.commit()
    assert [r.message_id for r in retaken] == [first[0].message_id]
    assert retaken[0].attempts == 2


def test_invitations_queued_claimed_are_sent_once_by_their_creator_and_redriven_after_a_crash(
    session: Session, env: dict[str, str], sink: SmtpSink, redis_db: redis.Redis
) -> None:
    campaign = build_campaign(session, 4)
    invitations = session.scalars(select(Invitation).order_by(Invitation.id)).all()
    session.add(Suppression(email=invitations[3].contact.email, reason="unsubscribed"))
    session.commit()
    ids = [inv.id for inv in invitations]
    now = datetime.now(UTC)
    claim = outbox.ClaimAs(claimer="w1", lease_until=now + LEASE)
    with _factory(env).begin() as tx:
        queued = scan.invite(tx, campaign.id, ids, now=now, secret=SECRET, claim=claim)
    # Rows exist (and are ours) before any SMTP call; nothing was published for them.
    assert len(queued.outbox_ids) == 4 and redis_db.llen("sending") == 0
    session.expire_all()
    states = Counter(session.scalars(select(OutboundMessage.state)))
    assert states == Counter({"sending": 3, "suppressed": 1})
    assert sorted(c.id for c in queued.claimed) == sorted(
        session.scalars(select(OutboundMessage.id).where(OutboundMessage.state == "sending"))
    )
    # A scan beside us neither claims them nor queues them again while the lease runs.
    assert outbox.claim(session, queued.outbox_ids, now=now, claimer="w2", lease=LEASE) == []
    assert outbox.due_for_redrive(session, now=now, lease=LEASE) == []
    with _factory(env).begin() as tx:
        assert scan.invite(tx, campaign.id, ids, now=now, secret=SECRET).outbox_ids == []
    session.rollback()
    # The creator dies before sending: when the lease ends the rows are re-driven as they are.
    expired = now + LEASE + timedelta(seconds=1)
    redrive = outbox.due_for_redrive(session, now=expired, lease=LEASE)
    session.commit()
    assert sorted(redrive) == sorted(c.id for c in queued.claimed)
    report = outbox.send_batch(
        _factory(env), redrive, sender=_sender(sink), limiter=None, lease=LEASE,
        clock=lambda: expired,
    )  # fmt: skip
    assert report.sent == 3
    # The creator, late, finds its claim gone: what it sends is not recorded over the retaker.
    late = outbox.send_claimed(
        _factory(env), queued.claimed, sender=_sender(sink), limiter=None, claimer="w1",
        lease=LEASE,
    )  # fmt: skip
    assert (late.claimed, late.sent) == (3, 0)  # its answers are not written: the rows moved on
    session.expire_all()
    rows = session.scalars(select(OutboundMessage).where(OutboundMessage.state == "sent")).all()
    assert len(rows) == 3 and {r.attempts for r in rows} == {2}
    assert {r.claimed_by for r in rows} == {outbox.worker_name()}
    by_id = Counter(m["message_id"] for m in sink.messages())
    assert set(by_id) == {r.message_id for r in rows}  # duplicates carry the same Message-ID
    audits = session.scalar(
        select(func.count(AuditLog.id)).where(AuditLog.action == AuditAction.INVITED)
    )
    assert audits == 4


def test_a_final_letter_found_sending_after_a_crash_is_held_not_resent(
    session: Session, env: dict[str, str]
) -> None:
    campaign = build_campaign(session, 1)
    now = datetime.now(UTC)
    row = OutboundMessage(
        campaign_id=campaign.id, kind="final_letter", sequence=0, dedupe_key="x:final",
        message_id="<final_letter.0.x@hrn.example>", envelope_from="a@hrn.example",
        recipients=["minister@mofa.example"], raw=b"Subject: x\r\n\r\nx\r\n",
        state=OutboxState.SENDING.value, attempts=1, lease_until=now - timedelta(seconds=1),
        claimed_by="dead:1",
    )  # fmt: skip
    session.add(row)
    session.commit()
    assert outbox.claim(session, [row.id], now=now, claimer="b", lease=LEASE) == []
    ids = outbox.due_for_redrive(session, now=now, lease=LEASE)
    session.commit()
    assert row.id not in ids
    session.refresh(row)
    assert row.state == OutboxState.HELD.value
    assert (
        session.scalar(
            select(AuditLog.action).where(AuditLog.entity_id == row.id, AuditLog.to_state == "held")
        )
        == AuditAction.LEASE_EXPIRED_HELD
    )


def test_relay_answers_decide_sent_retry_failed_and_a_550_bounces_the_contact(
    session: Session, env: dict[str, str], sink: SmtpSink, redis_db: redis.Redis
) -> None:
    build_campaign(session, 5)
    emails = [c.email for c in session.scalars(select(Contact).order_by(Contact.id))]
    # ok, 451 (temporary), 552 (mailbox full: temporary), 554 (permanent), 550 (no such user)
    sink.set_rules(
        {
            "fail_first": {emails[1]: 1},
            "reject": {emails[2]: 552, emails[3]: 554, emails[4]: 550},
        }
    )
    _scan(env, datetime.now(UTC))
    now = datetime.now(UTC) + timedelta(seconds=1)
    ids = sorted(session.scalars(select(OutboundMessage.id)).all())
    report = outbox.send_batch(
        _factory(env), ids, sender=_sender(sink), limiter=None, lease=LEASE,
        policy=WINDOW_2H, clock=lambda: now,
    )  # fmt: skip
    assert (report.sent, report.retry, report.failed) == (1, 2, 2)
    session.expire_all()
    rows = {r.recipients[0]: r for r in session.scalars(select(OutboundMessage))}
    assert rows[emails[0]].state == "sent" and rows[emails[0]].last_smtp_code == 250
    assert rows[emails[1]].state == "retry" and rows[emails[1]].last_smtp_code == 451
    assert rows[emails[1]].next_attempt_at > now + timedelta(seconds=40)
    assert rows[emails[2]].state == "retry" and rows[emails[2]].last_smtp_code == 552
    assert rows[emails[3]].state == "failed" and rows[emails[3]].last_smtp_code == 554
    assert rows[emails[4]].state == "failed" and "User unknown" in rows[emails[4]].last_smtp_reply
    bounced = session.scalars(select(Contact).where(Contact.email == emails[4])).one()
    assert bounced.address_state == "bounced"
    inv = session.scalars(select(Invitation).where(Invitation.contact_id == bounced.id)).one()
    assert inv.state == InvitationState.BOUNCED.value
    assert session.scalars(select(Suppression.email)).all() == [emails[4]]
    # Only one message reached the sink; the 554 contact is not bounced (only 550 is).
    assert [m["rcpt_tos"] for m in sink.messages()] == [[emails[0]]]
    assert (
        session.scalars(select(Contact.address_state).where(Contact.email == emails[3])).one()
        == "ok"
    )
    # The retry goes out when due, with the same Message-ID; the first is not sent twice.
    later = now + timedelta(hours=2)
    redrive = outbox.due_for_redrive(session, now=later, lease=LEASE)
    session.commit()
    # The 550 also told the lead (one bounce path, as for a bounce email): that report is due.
    lead_report = session.scalars(
        select(OutboundMessage.id).where(OutboundMessage.kind == "bounce_report")
    ).one()
    assert sorted(redrive) == sorted([rows[emails[1]].id, rows[emails[2]].id, lead_report])
    sink.set_rules({"reject": {emails[2]: 552}})
    again = outbox.send_batch(
        _factory(env), ids, sender=_sender(sink), limiter=None, lease=LEASE,
        policy=WINDOW_2H, clock=lambda: later,
    )  # fmt: skip
    # 552 again, and its next retry would fall after the 2 h window: failed with that answer.
    assert (again.claimed, again.sent, again.failed) == (2, 1, 1)
    delivered = [m for m in sink.messages() if m["rcpt_tos"] == [emails[1]]]
    assert [m["message_id"] for m in delivered] == [rows[emails[1]].message_id]


def test_the_sent_message_has_the_headers_replies_and_bounces_need(
    session: Session, env: dict[str, str], sink: SmtpSink, redis_db: redis.Redis
) -> None:
    build_campaign(session, 3)
    now = datetime.now(UTC)
    _scan(env, now)
    ids = list(session.scalars(select(OutboundMessage.id)))
    outbox.send_batch(
        _factory(env), ids, sender=_sender(sink), limiter=None, lease=LEASE,
    )  # fmt: skip
    for entry in sink.messages():
        row = session.scalars(
            select(OutboundMessage).where(OutboundMessage.message_id == entry["message_id"])
        ).one()
        inv = session.get(Invitation, row.invitation_id)
        assert inv is not None
        message = message_from_bytes(sink.raw(entry), policy=policy.default)
        assert entry["mail_from"] == f"signon+bounce-{inv.token}@hrn.example"
        assert message["Reply-To"] == f"signon+{inv.token}@hrn.example"
        assert inv.token in message["List-Unsubscribe"]
        assert message["Date"]
        assert str(message["Subject"]) == row.subject


def test_deadline_moves_the_campaign_to_closing_exactly_once(
    session: Session, env: dict[str, str], redis_db: redis.Redis
) -> None:
    now = datetime.now(UTC)
    campaign = build_campaign(
        session, 2, invite_at=now - timedelta(days=3), deadline=now - timedelta(seconds=1)
    )
    first = _scan(env, now)
    second = _scan(env, now)
    assert first.closed == [campaign.id]
    assert second.closed == []
    assert second.deliver == [campaign.id]
    session.expire_all()
    assert session.get(Campaign, campaign.id).state == CampaignState.CLOSING.value  # type: ignore[union-attr]
    assert _count(session) == 0  # nothing is sent after the deadline


def test_publish_after_commit_sends_nothing_when_the_transaction_rolls_back(
    session: Session, env: dict[str, str], redis_db: redis.Redis
) -> None:
    outbox.publish_after_commit(session, [1, 2, 3])
    session.rollback()
    assert redis_db.llen("sending") == 0
    outbox.publish_after_commit(session, [4, 5])
    session.commit()
    assert redis_db.llen("sending") == 1


def test_the_rate_limit_is_shared_by_every_limiter_on_the_same_redis(
    redis_db: redis.Redis,
) -> None:
    a = RedisRateLimiter(REDIS_URL, "relay:25", per_minute=600)  # 10 per second
    b = RedisRateLimiter(REDIS_URL, "relay:25", per_minute=600)
    first = a.reserve(20)
    second = b.reserve(20)
    # The first 10 go at once (one second's burst); the second worker's slots follow the first's.
    assert first.delay(9) == pytest.approx(0.0, abs=0.05)
    assert first.delay(19) == pytest.approx(1.0, abs=0.05)
    # Measured from the first reservation (the machine may be slow between the two calls).
    gap = second.taken_at - first.taken_at
    assert gap + second.delay(0) == pytest.approx(1.1, abs=0.05)
    assert gap + second.delay(19) == pytest.approx(3.0, abs=0.05)


def test_a_pacer_gives_back_the_slots_it_did_not_use(redis_db: redis.Redis) -> None:
    limiter = RedisRateLimiter(REDIS_URL, "relay:26", per_minute=600)  # 10 per second
    pacer = Pacer(limiter, total=100)
    for _ in range(3):
        pacer.wait()  # reserves one second (10 slots) and uses 3 of them
    pacer.close()
    after = limiter.reserve(1)
    # The next reservation starts right after the 3 used slots, not after the 10 reserved.
    assert after.start_offset == pytest.approx(0.3, abs=0.1)


def test_file_capture_mode_writes_each_message_once_as_eml(tmp_path: Path) -> None:
    sender = Sender(SmtpTarget(scheme="file", path=tmp_path / "capture"))
    envelope = Envelope("a@x.example", ["b@y.example"], b"Subject: hi\r\n\r\nbody\r\n", "<m.1@x>")
    assert sender.send_many([envelope, envelope])[0].is_sent
    assert [p.name for p in (tmp_path / "capture").iterdir()] == ["m.1@x.eml"]

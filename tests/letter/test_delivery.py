"""The final letter reaches the ministry once, through a real SMTP server, whatever happens."""

from __future__ import annotations

import email
import os
import signal
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from email import policy

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from support.smtp_sink import SmtpSink

from worker.actions import deliver, outbox
from worker.core.audit_actions import AuditAction
from worker.core.states import CampaignState, InvitationState, OutboxState
from worker.db import session_factory
from worker.errors import UserError
from worker.mail.smtp import Sender
from worker.models import (
    AuditLog,
    Campaign,
    Contact,
    Invitation,
    Organisation,
    OutboundMessage,
    Suppression,
)
from worker.settings import SmtpTarget

from .conftest import REPO, freeze, sign

MINISTRY = "minister@mofa.example"
# Real time: outbox rows are due from their creation (the seed deadline itself is in 2024).
NOW = datetime.now(UTC) - timedelta(minutes=1)
LEASE = timedelta(seconds=300)


def _send(
    url: str, ids: list[int], sink: SmtpSink, *, now: datetime | None = None
) -> outbox.SendReport:
    sender = Sender(SmtpTarget(scheme="smtp", host="127.0.0.1", port=sink.port), timeout=10)
    try:
        return outbox.send_batch(
            session_factory(url), ids, sender=sender, limiter=None, lease=LEASE,
            clock=(lambda: now) if now else None,
        )  # fmt: skip
    finally:
        sender.close()


def _to_ministry(sink: SmtpSink) -> list[dict[str, object]]:
    return [m for m in sink.messages() if MINISTRY in m["rcpt_tos"]]  # type: ignore[operator]


def _prepare(url: str, campaign_id: int, now: datetime = NOW) -> deliver.Outcome:
    with session_factory(url)() as s, s.begin():
        return deliver.prepare(s, campaign_id, now=now)


def _closed_seed(session: Session, campaign: Campaign, *, approval: bool) -> None:
    sign(session, campaign)
    campaign.requires_approval = approval
    freeze(session, campaign, NOW)


def _final_rows(session: Session, campaign: Campaign) -> list[OutboundMessage]:
    session.expire_all()
    return list(
        session.scalars(
            select(OutboundMessage).where(
                OutboundMessage.campaign_id == campaign.id, OutboundMessage.kind == "final_letter"
            )
        )
    )


def test_prepare_run_twice_at_once_delivers_exactly_one_message_to_the_ministry(
    session: Session, seed_campaign: Campaign, sink: SmtpSink, db_url: str
) -> None:
    _closed_seed(session, seed_campaign, approval=False)
    barrier = threading.Barrier(2)
    outcomes: list[str] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            barrier.wait()
            outcomes.append(_prepare(db_url, seed_campaign.id).action)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert sorted(outcomes) == ["queued", "waiting"]  # the second found it queued already
    rows = _final_rows(session, seed_campaign)
    assert len(rows) == 1
    row = rows[0]
    assert row.message_id == "<final_letter.0.icc-2024@hrn.example>"
    assert row.recipients == [MINISTRY, "coordinator@hrn.example", "tokyo@hrw.example"]
    # Two workers got the same id (a duplicate task): the row is claimed once.
    results: list[outbox.SendReport] = []
    senders = [threading.Thread(target=lambda: results.append(_send(db_url, [row.id], sink)))
               for _ in range(2)]  # fmt: skip
    for t in senders:
        t.start()
    for t in senders:
        t.join(60)
    assert sorted(r.sent for r in results) == [0, 1]
    delivered = _to_ministry(sink)
    assert len(delivered) == 1
    assert delivered[0]["message_id"] == row.message_id
    message = email.message_from_bytes(sink.raw(delivered[0]), policy=policy.default)
    names = sorted(p.get_filename() or "" for p in message.iter_attachments())  # type: ignore[attr-defined]
    assert names == ["icc-2024-letter-en.pdf", "icc-2024-letter-ja.pdf"]
    assert "27団体" in str(message["Subject"])
    # The scan keeps calling prepare: the campaign is delivered, the letter not sent again.
    assert _prepare(db_url, seed_campaign.id).action == "delivered"
    assert _prepare(db_url, seed_campaign.id).action == "nothing"
    session.expire_all()
    assert session.get(Campaign, seed_campaign.id).state == CampaignState.DELIVERED.value  # type: ignore[union-attr]
    assert len(_final_rows(session, seed_campaign)) == 1
    assert len(_to_ministry(sink)) == 1


def test_notices_go_to_every_signatory_but_the_unsubscribed_with_the_pdf_of_their_language(
    session: Session, seed_campaign: Campaign, sink: SmtpSink, db_url: str
) -> None:
    _closed_seed(session, seed_campaign, approval=False)
    unsubscribed = session.scalars(select(Contact).where(Contact.email == "info@ajf.example")).one()
    invitation = session.scalars(
        select(Invitation).where(Invitation.contact_id == unsubscribed.id)
    ).one()
    invitation.state = InvitationState.UNSUBSCRIBED.value
    session.add(Suppression(email="info@ajf.example", reason="unsubscribed"))
    # A second address of an organisation only hears through the one that signed.
    session.commit()
    _prepare(db_url, seed_campaign.id)
    final = _final_rows(session, seed_campaign)[0]
    _send(db_url, [final.id], sink)
    outcome = _prepare(db_url, seed_campaign.id)
    assert outcome.action == "delivered"
    assert len(outcome.outbox_ids) == 26  # 27 signatories, one unsubscribed
    assert _prepare(db_url, seed_campaign.id).outbox_ids == []  # nothing queued twice
    _send(db_url, outcome.outbox_ids, sink)
    notices = [m for m in sink.messages() if MINISTRY not in m["rcpt_tos"]]  # type: ignore[operator]
    recipients = sorted(r for m in notices for r in m["rcpt_tos"])  # type: ignore[attr-defined]
    assert len(recipients) == 26 == len(set(recipients))
    assert "info@ajf.example" not in recipients
    assert "advocacy@ngo-jvc.example" not in recipients  # JVC signed through info@
    by_address = {m["rcpt_tos"][0]: m for m in notices}  # type: ignore[index]
    for address, lang in (("bdstokyo@mail.example", "en"), ("info@wam.example", "ja")):
        message = email.message_from_bytes(sink.raw(by_address[address]), policy=policy.default)
        files = [p.get_filename() for p in message.iter_attachments()]  # type: ignore[attr-defined]
        assert files == [f"icc-2024-letter-{lang}.pdf"]
    ja = email.message_from_bytes(sink.raw(by_address["info@wam.example"]), policy=policy.default)
    body = ja.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "アクティブ・ミュージアム「女たちの戦争と平和資料館」" in body
    assert "27団体" in body


def test_approval_gate_holds_the_letter_until_a_lead_approves(
    session: Session, seed_campaign: Campaign, sink: SmtpSink, db_url: str
) -> None:
    _closed_seed(session, seed_campaign, approval=True)
    assert _prepare(db_url, seed_campaign.id).action == "awaiting_approval"
    row = _final_rows(session, seed_campaign)[0]
    assert row.state == OutboxState.HELD.value
    # Neither a send task, the scan's re-drive, nor another prepare lets it out.
    assert _send(db_url, [row.id], sink).sent == 0
    with session_factory(db_url)() as s, s.begin():
        later = NOW + timedelta(days=1)
        redrive = outbox.due_for_redrive(s, now=later, lease=LEASE)
    assert row.id not in redrive
    assert _prepare(db_url, seed_campaign.id).action == "nothing"
    assert sink.messages() == []
    with session_factory(db_url)() as s, s.begin(), pytest.raises(UserError, match="approve"):
        deliver.resolve(s, row.id, sent=False, actor="someone", now=NOW)
    with session_factory(db_url)() as s, s.begin():
        campaign = s.get(Campaign, seed_campaign.id)
        assert campaign is not None
        deliver.approve(s, campaign, actor="lead:alice", now=NOW,
                        expected_sha256=deliver.raw_sha256(row))  # fmt: skip
    session.expire_all()
    campaign = session.get(Campaign, seed_campaign.id)
    assert campaign is not None
    assert campaign.state == CampaignState.DELIVERING.value
    assert campaign.approved_by == "lead:alice"
    audit_row = session.scalars(
        select(AuditLog).where(AuditLog.action == AuditAction.FINAL_LETTER_APPROVED)
    ).one()
    assert audit_row.actor == "lead:alice"
    assert _send(db_url, [row.id], sink).sent == 1
    assert len(_to_ministry(sink)) == 1


def test_approval_refuses_a_letter_that_changed_since_it_was_shown(
    session: Session, seed_campaign: Campaign, db_url: str
) -> None:
    _closed_seed(session, seed_campaign, approval=True)
    _prepare(db_url, seed_campaign.id)
    shown = deliver.raw_sha256(_final_rows(session, seed_campaign)[0])
    late = session.scalars(select(Organisation).where(Organisation.key == "ajf")).one()
    session.execute(
        Organisation.__table__.update().where(Organisation.id == late.id).values(name_en="AJF")
    )
    session.commit()
    with session_factory(db_url)() as s, s.begin():
        campaign = s.get(Campaign, seed_campaign.id)
        assert campaign is not None
        assert deliver.refresh_held_letter(s, campaign, now=NOW) is True
    with session_factory(db_url)() as s, s.begin():
        campaign = s.get(Campaign, seed_campaign.id)
        assert campaign is not None
        with pytest.raises(UserError, match="changed"):
            deliver.approve(s, campaign, actor="lead", now=NOW, expected_sha256=shown)


_KILLED_WORKER = """
import os, signal, sys
from datetime import datetime, timedelta, UTC
from worker.actions import outbox
from worker.db import session_factory
url, row_id = sys.argv[1], int(sys.argv[2])
now = datetime.now(UTC)
with session_factory(url)() as s, s.begin():
    claimed = outbox.claim(s, [row_id], now=now, claimer="doomed", lease=timedelta(seconds=300))
assert [c.id for c in claimed] == [row_id], claimed
sys.stdout.write("claimed\\n"); sys.stdout.flush()
os.kill(os.getpid(), signal.SIGKILL)  # dies between the claim and the SMTP answer
"""


@pytest.mark.parametrize("decision", ["resend", "sent"])
def test_final_letter_of_a_killed_worker_is_held_never_resent_until_resolved(
    session: Session, seed_campaign: Campaign, sink: SmtpSink, db_url: str, decision: str
) -> None:
    _closed_seed(session, seed_campaign, approval=False)
    _prepare(db_url, seed_campaign.id)
    row = _final_rows(session, seed_campaign)[0]
    child = subprocess.run(
        [sys.executable, "-c", _KILLED_WORKER, db_url, str(row.id)],
        cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, timeout=60,
    )  # fmt: skip
    assert child.returncode == -signal.SIGKILL, child.stderr.decode()
    assert _final_rows(session, seed_campaign)[0].state == OutboxState.SENDING.value
    # The scan after the lease expired: the final letter is held for a person. The killed
    # worker claimed on the real clock, so "later" counts from now, not from the module's NOW.
    later = datetime.now(UTC) + LEASE + timedelta(minutes=5)
    with session_factory(db_url)() as s, s.begin():
        redrive = outbox.due_for_redrive(s, now=later, lease=LEASE)
    assert row.id not in redrive
    assert _final_rows(session, seed_campaign)[0].state == OutboxState.HELD.value
    assert _send(db_url, [row.id], sink, now=later).sent == 0
    assert _prepare(db_url, seed_campaign.id, later).action == "waiting"
    assert sink.messages() == []

    with session_factory(db_url)() as s, s.begin():
        outcome = deliver.resolve(s, row.id, sent=decision == "sent", actor="lead:bob", now=later)
    if decision == "resend":
        assert outcome.outbox_ids == [row.id]
        assert _send(db_url, [row.id], sink, now=later).sent == 1
        assert _prepare(db_url, seed_campaign.id, later).action == "delivered"
        assert len(_to_ministry(sink)) == 1
    else:
        assert len(outcome.outbox_ids) == 27  # notices queued at once
        assert _to_ministry(sink) == []  # a person said it went out: not sent again
    session.expire_all()
    assert session.get(Campaign, seed_campaign.id).state == "delivered"  # type: ignore[union-attr]
    assert session.scalar(
        select(func.count()).select_from(AuditLog).where(AuditLog.actor == "lead:bob")
    ) == 1

"""End to end on PostgreSQL: beat and Celery worker processes on Redis, a real SMTP server."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from support.celery_processes import wait_for_scans
from support.smtp_sink import SmtpSink
from typer.testing import CliRunner

from worker.core.states import InvitationState
from worker.models import Contact, Invitation, OutboundMessage, Suppression

from .conftest import Processes, build_campaign, wait_until

pytestmark = [
    pytest.mark.slow,
    pytest.mark.redis,
    pytest.mark.parametrize("db_url", ["postgresql"], indirect=True),
]


def _states(session: Session) -> Counter[str]:
    session.expire_all()
    return Counter(session.scalars(select(OutboundMessage.state)))


def _all_sent(session: Session, n: int) -> bool:
    states = _states(session)
    return states["sent"] == n and sum(states.values()) == n


def test_every_contact_of_a_200_contact_campaign_gets_exactly_one_invitation(
    session: Session, sink: SmtpSink, celery: Processes
) -> None:
    build_campaign(session, 200)
    celery.start_worker()
    celery.start_beat()
    wait_until(lambda: _all_sent(session, 200), 60, "200 invitations sent")
    wait_for_scans(session)  # a few more scans: nothing new may go out
    messages = sink.messages()
    per_recipient = Counter(tuple(m["rcpt_tos"]) for m in messages)
    assert len(per_recipient) == 200
    assert set(per_recipient.values()) == {1}
    rows = session.scalars(select(OutboundMessage)).all()
    assert {m["message_id"] for m in messages} == {r.message_id for r in rows}
    states = Counter(session.scalars(select(Invitation.state)))
    assert states == Counter({InvitationState.INVITED.value: 200})


def test_reminders_go_only_to_contacts_who_have_not_answered(
    session: Session, sink: SmtpSink, celery: Processes
) -> None:
    now = datetime.now(UTC)
    # First reminder (3 days before the deadline) is due; the second (1 day before) is not.
    campaign = build_campaign(
        session, 12, invite_at=now - timedelta(days=5), deadline=now + timedelta(days=2)
    )
    answers = ["signed", "declined", "unsubscribed", "bounced", "question", "withdrawn"]
    invitations = session.scalars(select(Invitation).order_by(Invitation.id)).all()
    for i, inv in enumerate(invitations):
        inv.state = answers[i] if i < len(answers) else "invited"
        inv.invited_at = now - timedelta(days=5)
    session.commit()
    waiting = {inv.contact.email for inv in invitations[len(answers) :]}
    celery.start_worker()
    celery.start_beat()
    wait_until(lambda: _all_sent(session, len(waiting)), 30, "reminders sent")
    wait_for_scans(session)  # a few more scans: no second reminder, none to the others
    rows = session.scalars(select(OutboundMessage)).all()
    assert {r.kind for r in rows} == {"reminder"}
    assert {r.sequence for r in rows} == {1}
    assert {m["rcpt_tos"][0] for m in sink.messages()} == waiting
    assert len(sink.messages()) == len(waiting)
    session.expire_all()
    reminded = session.scalars(
        select(Invitation.reminders_sent).where(Invitation.campaign_id == campaign.id)
    ).all()
    assert sorted(reminded) == [0] * len(answers) + [1] * len(waiting)


def test_a_421_storm_is_ridden_out_without_losing_or_doubling_mail(
    session: Session, sink: SmtpSink, celery: Processes
) -> None:
    sink.set_rules({"storm": {"code": 421, "count": 45}})  # every mail refused twice or more
    build_campaign(session, 20)
    celery.start_worker()
    celery.start_beat()
    wait_until(lambda: _all_sent(session, 20), 60, "all 20 sent after the storm")
    per_recipient = Counter(m["rcpt_tos"][0] for m in sink.messages())
    assert len(per_recipient) == 20 and set(per_recipient.values()) == {1}
    attempts = session.scalars(select(OutboundMessage.attempts)).all()
    assert min(attempts) >= 2  # each was refused at least once, then retried from the row


def test_a_550_ends_that_contacts_mail_and_is_reported(
    session: Session, sink: SmtpSink, celery: Processes, env: dict[str, str]
) -> None:
    build_campaign(session, 10)
    dead = session.scalars(select(Contact.email).order_by(Contact.id)).first()
    assert dead is not None
    sink.set_rules({"reject": {dead: 550}})
    celery.start_worker()
    celery.start_beat()
    # 9 invitations and the lead's bounce report (one bounce path: a 550 is reported like a
    # bounce email) sent; the dead address's invitation failed.
    wait_until(
        lambda: _states(session)["sent"] == 10 and _states(session)["failed"] == 1,
        30,
        "9 invitations and a bounce report sent, 1 failed",
    )
    (report,) = session.scalars(
        select(OutboundMessage).where(OutboundMessage.kind == "bounce_report")
    ).all()
    assert report.state == "sent" and dead not in report.recipients
    contact = session.scalars(select(Contact).where(Contact.email == dead)).one()
    assert contact.address_state == "bounced"
    inv = session.scalars(select(Invitation).where(Invitation.contact_id == contact.id)).one()
    assert inv.state == InvitationState.BOUNCED.value
    assert session.scalar(select(func.count(Suppression.id)).where(Suppression.email == dead)) == 1
    assert dead not in {m["rcpt_tos"][0] for m in sink.messages()}

    from worker.cli import _load_commands, app

    _load_commands()
    result = CliRunner().invoke(
        app, ["outbox", "list", "--state", "failed"], env={**env, "COLUMNS": "200"}
    )
    assert result.exit_code == 0, result.output
    assert dead in result.output and "550" in result.output
    assert not any(f"ngo{i:04d}@" in result.output for i in range(1, 10))  # only the failed


def test_sigkill_mid_sending_then_restart_loses_nothing_and_duplicates_keep_their_message_id(
    session: Session, sink: SmtpSink, celery: Processes
) -> None:
    celery.env["OUTREACH_SMTP_RATE_PER_MINUTE"] = "1500"  # 25/s: 150 mails take ~6 s
    celery.env["OUTREACH_OUTBOX_BATCH_SIZE"] = "10"
    build_campaign(session, 150)
    celery.start_worker()
    celery.start_beat()
    wait_until(lambda: len(sink.messages()) >= 30, 30, "sending under way")
    celery.kill_worker()
    killed_at = len(sink.messages())
    assert killed_at < 150, "the worker finished before it could be killed"
    celery.start_worker()
    wait_until(lambda: _all_sent(session, 150), 60, "all 150 sent after the restart")
    messages = sink.messages()
    ids_per_recipient: dict[str, set[str]] = {}
    for m in messages:
        ids_per_recipient.setdefault(m["rcpt_tos"][0], set()).add(m["message_id"])
    assert len(ids_per_recipient) == 150  # nobody lost
    assert all(len(ids) == 1 for ids in ids_per_recipient.values())  # duplicates: same id
    assert len(messages) - 150 <= 20  # at most what was in flight when killed

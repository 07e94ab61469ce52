"""The seed campaign run by the real service: `outreach` commands, Celery worker and beat
processes on Redis, PostgreSQL, an SMTP server and a Dovecot mailbox. Nothing is called
directly: every effect below went through beat's scan, a worker task and a real protocol.

Issue 4 (replies): invitations out by SMTP, answers read from IMAP, signed with evidence and
acknowledged, a decline stops reminders, a spoof signs nobody, a duplicate counts once.
Issue 7 (the final letter): the deadline closes the campaign once even with two beats, the
approval gate holds the letter, exactly one message reaches the ministry, notices go to the
signatories but the unsubscribed, and a worker killed mid-delivery never causes a resend.
"""

from __future__ import annotations

import subprocess
from collections import Counter
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import getaddresses

import pytest
from sqlalchemy import func, select
from support.celery_processes import wait_for_scans, wait_until
from support.dovecot import Dovecot
from support.replies import reply_to, text_of

from worker.actions.deliver import attached_pdfs
from worker.core.audit_actions import AuditAction
from worker.models import (
    AuditLog,
    InboundMessage,
    MailboxCursor,
    ReviewItem,
    Signature,
    Suppression,
)

from .conftest import (
    AUTHSERV_ID,
    COORDINATORS,
    FOREST,
    GREEN,
    KYOTO,
    MINISTRY,
    OSAKA,
    SLUG,
    Run,
    write_campaign,
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.redis,
    pytest.mark.parametrize("db_url", ["postgresql"], indirect=True),
]

QUEUES = ("sending", "scheduling", "intake", "delivery")
REQUESTED_NAME = "Green Action Japan (GAJ)"
SIGN_NAMED = f"Yes, we sign. Please list us as: {REQUESTED_NAME}\n\nThank you.\nMaria"
SIGN_JA = "お世話になっております。\n\n当団体として賛同します。\nよろしくお願いいたします。"
DECLINE = "Thank you for the invitation. Unfortunately we cannot sign this letter.\n\nTom"
UNSUBSCRIBE_JA = "賛同はそのままで、今後のメール配信は停止してください。"  # keeps the signature
AUTH_PASS = (
    f"{AUTHSERV_ID}; spf=pass smtp.mailfrom=green.example; "
    "dkim=pass header.d=green.example; dmarc=pass header.from=green.example"
)


def _parsed(raw: bytes) -> EmailMessage:
    message = message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


def _pdf_text(data: bytes) -> str:
    done = subprocess.run(
        ["pdftotext", "-", "-"], input=data, capture_output=True, check=True, timeout=60
    )
    return " ".join(done.stdout.decode().split())


def _audits(run: Run, action: AuditAction) -> int:
    run.session.rollback()
    return (
        run.session.scalar(
            select(func.count()).select_from(AuditLog).where(AuditLog.action == action)
        )
        or 0
    )


def _start(run: Run, *, deadline_in: timedelta, requires_approval: bool) -> datetime:
    """Workers and beat up, the campaign loaded from its files, contacts imported, started.
    Returns invite_at (a minute ago: the invitations are due at once)."""
    invite_at = datetime.now(UTC) - timedelta(minutes=1)
    path = write_campaign(
        run.folder,
        invite_at=invite_at,
        deadline=datetime.now(UTC) + deadline_in,
        requires_approval=requires_approval,
    )
    run.celery.start_worker(queues=QUEUES)
    run.celery.start_beat()
    assert "created (draft)" in run.cli("campaign", "load", str(path))
    run.cli("contacts", "import", SLUG, str(run.folder / f"{SLUG}.contacts.csv"))
    return invite_at


def _move_deadline(run: Run, invite_at: datetime, deadline: datetime, approval: bool) -> None:
    """A coordinator edits schedule.deadline in the campaign file and loads it again."""
    path = write_campaign(
        run.folder, invite_at=invite_at, deadline=deadline, requires_approval=approval
    )
    assert "updated" in run.cli("campaign", "load", str(path))


def test_campaign_runs_from_start_to_one_approved_letter_through_smtp_imap_worker_and_beat(
    run: Run, dovecot: Dovecot
) -> None:
    invite_at = _start(run, deadline_in=timedelta(hours=1), requires_approval=True)
    assert "4 invitation(s) go out now" in run.cli("campaign", "start", SLUG)

    # -- Issue 4. Beat's scan queues the invitations; the worker sends them by SMTP.
    everyone = sorted([GREEN, KYOTO, FOREST, OSAKA])
    wait_until(
        lambda: run.received_by("invitation") == everyone, 60, "4 invitations", state=run.state
    )
    invitation = {a: run.captured("invitation", a) for a in everyone}

    # The NGOs answer from their mail clients; the answers land in the Dovecot mailbox.
    signed = reply_to(
        invitation[GREEN], SIGN_NAMED, sender=f"Maria <{GREEN}>",
        headers={"Authentication-Results": AUTH_PASS},
    )  # fmt: skip
    spoof = reply_to(invitation[OSAKA], "Yes, we sign.", sender="someone@unrelated.example")
    dovecot.append(
        signed,
        reply_to(invitation[KYOTO], SIGN_JA, sender=KYOTO),
        reply_to(invitation[FOREST], DECLINE, sender=f"Tom <{FOREST}>"),
        spoof,
        signed,  # the same message delivered twice
    )

    def inbound() -> list[InboundMessage]:
        run.session.rollback()
        return list(run.session.scalars(select(InboundMessage).order_by(InboundMessage.id)))

    def cursor() -> int:
        run.session.rollback()
        return max(run.session.scalars(select(MailboxCursor.last_uid)), default=0)

    wait_until(
        lambda: cursor() == 5 and inbound() and all(m.state != "stored" for m in inbound()),
        45, "the 5 delivered messages read and processed", state=run.state,
    )  # fmt: skip
    wait_until(
        lambda: run.received_by("acknowledgement") == sorted([GREEN, KYOTO]),
        30, "acknowledgements to the two signers at the SMTP server", state=run.state,
    )  # fmt: skip
    messages = inbound()
    # Five messages read, four stored: the second copy of Green's reply counted once.
    assert Counter(m.state for m in messages) == {"processed": 3, "review": 1}
    by_id = {m.message_id: m for m in messages}
    assert len(by_id) == 4
    green_reply = by_id[str(_parsed(signed)["Message-ID"])]

    # The signature and its evidence.
    campaign = run.campaign()
    signatures = run.session.scalars(select(Signature).order_by(Signature.id)).all()
    assert len(signatures) == 2  # green once, although its reply arrived twice; and kyoto
    green_org = run.invitation(GREEN).organisation_id
    (sig,) = [s for s in signatures if s.organisation_id == green_org]
    assert sig.state == "active"
    assert sig.inbound_message_id == green_reply.id
    assert sig.reply_message_id == green_reply.message_id
    assert sig.from_addr == GREEN
    assert sig.auth_results is not None and "dmarc=pass" in sig.auth_results
    assert AUTHSERV_ID in sig.auth_results
    assert "explicit-commitment" in sig.decided_by
    assert sig.letter_hash == campaign.letter_hash and len(sig.letter_hash) == 64
    assert sig.listed_name_en == REQUESTED_NAME
    assert sig.received_at == green_reply.received_at
    # The acknowledgement shows the name as it will be listed.
    assert REQUESTED_NAME in text_of(run.captured("acknowledgement", GREEN))

    states = {a: run.invitation(a).state for a in everyone}
    assert states == {GREEN: "signed", KYOTO: "signed", FOREST: "declined", OSAKA: "invited"}
    # The spoof (Osaka's token, an unrelated sender) is in review and signed nobody.
    spoofed = by_id[str(_parsed(spoof)["Message-ID"])]
    assert spoofed.state == "review"
    review = run.session.scalars(
        select(ReviewItem).where(ReviewItem.inbound_message_id == spoofed.id)
    ).one()
    assert review.invitation_id == run.invitation(OSAKA).id
    assert "verification failed" in review.reason
    osaka_org = run.invitation(OSAKA).organisation_id
    assert osaka_org not in {s.organisation_id for s in signatures}

    # Kyoto answers its acknowledgement: no more mail, please (it stays a signatory).
    dovecot.append(reply_to(run.captured("acknowledgement", KYOTO), UNSUBSCRIBE_JA, sender=KYOTO))
    wait_until(
        lambda: run.invitation(KYOTO).state == "unsubscribed",
        30, "Kyoto unsubscribed", state=run.state,
    )  # fmt: skip
    assert run.session.scalar(select(Suppression.id).where(Suppression.email == KYOTO))

    # -- Issue 7. A second beat runs by mistake; the coordinator moves the deadline close:
    # the reminder round falls due (only Osaka has not answered), then the deadline passes.
    run.celery.start_beat()
    _move_deadline(run, invite_at, datetime.now(UTC) + timedelta(seconds=12), approval=True)
    wait_until(
        lambda: run.received_by("reminder") == [OSAKA], 30, "Osaka's reminder", state=run.state
    )
    wait_until(
        lambda: run.campaign().state == "awaiting_approval",
        60, "the campaign closed and waiting for approval", state=run.state,
    )  # fmt: skip
    assert len(run.celery.beats) == 2 and all(b.poll() is None for b in run.celery.beats)
    assert _audits(run, AuditAction.DEADLINE_PASSED) == 1  # closed once, though two beats scanned
    assert _audits(run, AuditAction.FINAL_LETTER_PREPARED) == 1
    (final_row,) = run.rows("final_letter")
    assert final_row.state == "held"
    wait_for_scans(run.session)  # several more scans of both beats: the gate holds
    assert run.campaign().state == "awaiting_approval"
    assert run.to_ministry() == []

    shown = run.cli("campaign", "approve", SLUG, "--yes", "--by", "lead")
    assert f"To: {MINISTRY}" in shown and "approved" in shown
    wait_until(
        lambda: run.campaign().state == "delivered" and run.received_by("delivered_notice"),
        60, "the letter delivered and the notices sent", state=run.state,
    )  # fmt: skip
    wait_for_scans(run.session)  # more scans of both beats: nothing more may go out
    (final,) = run.to_ministry()
    assert final["message_id"] == final_row.message_id
    assert final["rcpt_tos"] == [MINISTRY, *COORDINATORS]
    letter = _parsed(run.sink.raw(final))
    assert [a for _, a in getaddresses([str(letter["To"])])] == [MINISTRY]
    assert [a for _, a in getaddresses([str(letter["Cc"])])] == list(COORDINATORS)
    pdfs = attached_pdfs(run.sink.raw(final))
    assert sorted(pdfs) == [f"{SLUG}-letter-en.pdf", f"{SLUG}-letter-ja.pdf"]
    english, japanese = (
        _pdf_text(pdfs[f"{SLUG}-letter-en.pdf"]),
        _pdf_text(pdfs[f"{SLUG}-letter-ja.pdf"]),
    )
    assert REQUESTED_NAME in english and "Kyoto Peace Network" in english
    assert "京都平和ネットワーク" in japanese
    for absent in ("Forest Watch", "YWCA of Osaka"):  # declined; spoofed
        assert absent not in english
    # Notices: the signatories, but not Kyoto (unsubscribed); reminders: only Osaka.
    assert run.received_by("delivered_notice") == [GREEN]
    assert run.received_by("reminder") == [OSAKA]
    assert run.received_by("acknowledgement") == sorted([GREEN, KYOTO])
    assert len(run.sink.messages()) == len(run.rows())  # every row went out once, no more


def test_final_letter_of_a_worker_killed_mid_delivery_is_held_and_sent_once_after_resolve(
    run_without_mailbox: Run,
) -> None:
    run = run_without_mailbox
    invite_at = _start(run, deadline_in=timedelta(hours=1), requires_approval=False)
    # Green has signed already (say, through the review queue).
    invitation = run.invitation(GREEN)
    campaign = run.campaign()
    now = datetime.now(UTC)
    run.session.add(
        Signature(
            campaign_id=campaign.id,
            organisation_id=invitation.organisation_id,
            invitation_id=invitation.id,
            state="active",
            from_addr=GREEN,
            reply_message_id="<yes@green.example>",
            received_at=now,
            decided_by="review:lead",
            letter_hash=campaign.letter_hash,
            signed_at=now,
        )
    )
    invitation.state = "signed"
    run.session.commit()
    # The ministry's relay takes its time to answer DATA.
    run.sink.set_rules({"hold_data": {MINISTRY: 120}})
    run.cli("campaign", "start", SLUG)
    _move_deadline(run, invite_at, datetime.now(UTC) + timedelta(seconds=3), approval=False)

    def final_state() -> str | None:
        rows = run.rows("final_letter")
        return rows[0].state if rows else None

    wait_until(
        lambda: run.sink.holding() and final_state() == "sending",
        60, "the final letter in DATA at the SMTP server", state=run.state,
    )  # fmt: skip
    run.celery.kill_worker()  # SIGKILL to the worker and its pool, mid-DATA
    assert final_state() == "sending"
    run.celery.start_worker(queues=QUEUES)  # the service is restarted
    wait_until(
        lambda: final_state() == "held", 30, "the final letter held after its lease",
        state=run.state,
    )  # fmt: skip
    assert _audits(run, AuditAction.LEASE_EXPIRED_HELD) == 1
    wait_for_scans(run.session)  # more scans, a live worker: still never resent by itself
    assert final_state() == "held"
    assert run.to_ministry() == []
    assert len(run.sink.holding()) == 1  # no second attempt reached the relay
    assert run.campaign().state == "delivering"

    # A person checks with the relay (nothing was accepted) and sends it again.
    run.sink.set_rules({})
    (row,) = run.rows("final_letter")
    said = run.cli("outbox", "resolve", str(row.id), "--resend", "--by", "lead")
    assert "queued again" in said
    wait_until(
        lambda: run.campaign().state == "delivered" and run.received_by("delivered_notice"),
        60, "the letter delivered after the resend", state=run.state,
    )  # fmt: skip
    wait_for_scans(run.session)  # more scans: the resent letter goes once
    (final,) = run.to_ministry()
    assert final["message_id"] == row.message_id  # the same message, not a new one
    assert final["rcpt_tos"] == [MINISTRY, *COORDINATORS]
    assert len(attached_pdfs(run.sink.raw(final))) == 2
    assert run.received_by("delivered_notice") == [GREEN]
    assert _audits(run, AuditAction.RESOLVED_RESEND) == 1

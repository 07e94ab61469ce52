"""Intake from a real Dovecot mailbox and through the LMTP listener, end to end."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from imapclient import IMAPClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from support.dovecot import Dovecot, free_port
from support.smtp_sink import SmtpSink

from worker.actions.ingest import ingest, ingest_many
from worker.actions.outbox import send_batch
from worker.actions.process_reply import process_reply
from worker.core.states import InboundState, InvitationState
from worker.mail.inbox import IngestChunk, PollResult, mailbox_key, poll_mailbox
from worker.mail.lmtp import start_listener
from worker.mail.smtp import Sender
from worker.models import InboundMessage, MailboxCursor, OutboundMessage, ReviewItem, Signature
from worker.settings import SmtpTarget

from .conftest import AUTHSERV_ID, NOW, World, append_to, imap_target, reply_to


def _processor(sessions: sessionmaker[Session], world: World) -> Callable[[list[int]], None]:
    """What the intake.process task does, run inline."""

    def run(ids: list[int]) -> None:
        for inbound_id in ids:
            with sessions.begin() as session:
                outcome = process_reply(
                    session, inbound_id, now=NOW, secret=world.secret, authserv_id=AUTHSERV_ID
                )
                assert outcome.state != InboundState.STORED.value

    return run


@pytest.fixture
def smtp_sink(tmp_path: Path) -> Iterator[SmtpSink]:
    sink = SmtpSink(tmp_path / "smtp").start()
    try:
        yield sink
    finally:
        sink.stop()


def test_invitation_sent_by_smtp_answered_in_mailbox_is_signed_with_acknowledgement(
    world: World, dovecot: Dovecot, smtp_sink: SmtpSink, sessions: sessionmaker[Session]
) -> None:
    # 1. The invitation goes out through the real SMTP server.
    row = world.sent("info@green.example")
    sender = Sender(SmtpTarget(scheme="smtp", host="127.0.0.1", port=smtp_sink.port))
    try:
        report = send_batch(
            sessions,
            [row.id],
            sender=sender,
            limiter=None,
            lease=timedelta(minutes=5),
        )
    finally:
        sender.close()
    assert report.sent == 1
    (captured,) = smtp_sink.messages()
    # 2. The NGO answers it from its mail client; the answer lands in our mailbox.
    answer = reply_to(
        smtp_sink.raw(captured),
        "Yes, we sign!\n\nMaria Kowalska",
        sender="Maria <info@green.example>",
        headers={"Authentication-Results": f"{AUTHSERV_ID}; dkim=pass; dmarc=pass"},
    )
    append_to(dovecot, answer)
    # 3. The poller picks it up; processing signs and queues the acknowledgement.
    result = poll_mailbox(
        imap_target(dovecot),
        sessions,
        store=ingest,
        on_stored=_processor(sessions, world),
        clock=lambda: NOW,
    )
    assert len(result.stored) == 1
    world.session.rollback()
    signature = world.session.scalars(select(Signature)).one()
    inbound = world.session.get(InboundMessage, result.stored[0])
    assert inbound is not None and inbound.source == "imap" and inbound.uid == 1
    assert signature.inbound_message_id == inbound.id
    assert signature.reply_message_id == inbound.message_id
    assert signature.from_addr == "info@green.example"
    assert "dmarc=pass" in (signature.auth_results or "")
    assert signature.letter_hash == world.campaign.letter_hash
    assert world.invitation("info@green.example").state == InvitationState.SIGNED.value
    ack = world.sent("info@green.example", "acknowledgement")
    assert ack.state == "queued" and ack.recipients == ["info@green.example"]


def test_same_message_in_the_mailbox_twice_is_stored_once(
    world: World, dovecot: Dovecot, sessions: sessionmaker[Session]
) -> None:
    raw = reply_to(
        world.sent("info@green.example").raw or b"", "Yes, we sign!", sender="info@green.example"
    )
    append_to(dovecot, raw, raw)
    result = poll_mailbox(
        imap_target(dovecot),
        sessions,
        store=ingest,
        on_stored=_processor(sessions, world),
        clock=lambda: NOW,
    )
    assert (result.seen, len(result.stored), result.duplicates) == (2, 1, 1)
    # a second pass reads nothing again
    again = poll_mailbox(imap_target(dovecot), sessions, store=ingest)
    assert (again.seen, again.stored) == (0, [])
    world.session.rollback()
    assert len(world.session.scalars(select(Signature)).all()) == 1


# Row locks make concurrent polls safe on PostgreSQL; SQLite runs one writer at a time.
@pytest.mark.parametrize(
    "db_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)
@pytest.mark.parametrize("store_many", [None, ingest_many], ids=["one-by-one", "chunks"])
def test_two_polls_at_once_store_each_message_once_and_neither_fails(
    world: World,
    dovecot: Dovecot,
    sessions: sessionmaker[Session],
    store_many: IngestChunk | None,
) -> None:
    senders = ["info@green.example", "forestwatch@gmail.com"]
    append_to(
        dovecot,
        *(reply_to(world.sent(a).raw or b"", f"Yes, we sign! ({a})", sender=a) for a in senders),
    )
    # Force the overlap: each poll waits, after reading the cursor and the UIDs and before
    # storing the first message, until the other has got as far (the clock is read there).
    both_read_the_cursor = threading.Barrier(2, timeout=30)
    calls = threading.local()

    def clock() -> datetime:
        calls.n = getattr(calls, "n", 0) + 1
        if calls.n == 2:  # 1: loading the cursor; 2: about to store the first message
            both_read_the_cursor.wait()
        return NOW

    def poll(_: int) -> PollResult:
        return poll_mailbox(
            imap_target(dovecot), sessions, store=ingest, store_many=store_many, clock=clock
        )

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(poll, range(2)))
    assert not both_read_the_cursor.broken  # the two polls really ran side by side
    assert sorted(len(r.stored) for r in results) in ([0, 2], [1, 1])
    assert sum(len(r.stored) for r in results) == 2
    world.session.rollback()
    assert len(world.session.scalars(select(InboundMessage)).all()) == 2


def test_poller_crashing_mid_batch_loses_and_repeats_nothing(
    world: World, dovecot: Dovecot, sessions: sessionmaker[Session]
) -> None:
    messages = [
        f"From: n{i}@ngo{i}.example\r\nTo: signon@hrn.example\r\nSubject: note {i}\r\n"
        f"Message-ID: <note{i}@ngo{i}.example>\r\n\r\nhello {i}\r\n".encode()
        for i in range(5)
    ]
    append_to(dovecot, *messages)
    calls = 0

    def crashing_ingest(session: Session, raw: bytes, **kwargs: Any) -> int | None:
        nonlocal calls
        calls += 1
        new_id = ingest(session, raw, **kwargs)
        if calls == 3:
            raise ConnectionError("worker killed while storing the third message")
        return new_id

    with pytest.raises(ConnectionError):
        poll_mailbox(imap_target(dovecot), sessions, store=crashing_ingest)
    world.session.rollback()
    assert [
        m.uid for m in world.session.scalars(select(InboundMessage).order_by(InboundMessage.uid))
    ] == [1, 2]
    cursor = world.session.get(MailboxCursor, mailbox_key(imap_target(dovecot)))
    assert cursor is not None and cursor.last_uid == 2
    # restarted: continues after the last committed message
    result = poll_mailbox(imap_target(dovecot), sessions, store=ingest)
    assert result.seen == 3 and result.duplicates == 0
    world.session.rollback()
    uids = [
        m.uid for m in world.session.scalars(select(InboundMessage).order_by(InboundMessage.uid))
    ]
    assert uids == [1, 2, 3, 4, 5]


def test_unparseable_message_goes_to_review_and_the_poller_goes_on(
    world: World, dovecot: Dovecot, sessions: sessionmaker[Session]
) -> None:
    garbage = b"\x00\x01not a header at all\r\n\r\n\xff\xfe\x1b$B\x80garbage"
    good = reply_to(
        world.sent("office@kyoto-peace.example").raw or b"",
        "賛同します。",
        sender="office@kyoto-peace.example",
    )
    append_to(dovecot, garbage, good)
    result = poll_mailbox(
        imap_target(dovecot),
        sessions,
        store=ingest,
        on_stored=_processor(sessions, world),
        clock=lambda: NOW,
    )
    assert len(result.stored) == 2
    world.session.rollback()
    first, second = (world.session.get(InboundMessage, i) for i in result.stored)
    assert first is not None and first.state == InboundState.REVIEW.value
    assert second is not None and second.state == InboundState.PROCESSED.value
    assert world.session.scalars(select(ReviewItem)).one().inbound_message_id == first.id
    assert world.session.scalars(select(Signature)).one().from_addr == "office@kyoto-peace.example"


def test_uidvalidity_change_rereads_the_folder_without_double_counting(
    world: World, dovecot: Dovecot, sessions: sessionmaker[Session]
) -> None:
    notes = [
        f"From: a@b.example\r\nSubject: {i}\r\nMessage-ID: <n{i}@b.example>\r\n\r\n{i}\r\n".encode()
        for i in range(3)
    ]
    with IMAPClient("127.0.0.1", port=dovecot.port, ssl=False) as client:
        client.login(dovecot.user, dovecot.password)
        client.create_folder("Replies")
    append_to(dovecot, notes[0], notes[1], folder="Replies")
    first = poll_mailbox(imap_target(dovecot, "Replies"), sessions, store=ingest)
    assert len(first.stored) == 2
    with IMAPClient("127.0.0.1", port=dovecot.port, ssl=False) as client:
        client.login(dovecot.user, dovecot.password)
        client.delete_folder("Replies")
        client.create_folder("Replies")
    append_to(dovecot, notes[1], notes[2], folder="Replies")
    second = poll_mailbox(imap_target(dovecot, "Replies"), sessions, store=ingest)
    assert second.uidvalidity_changed and second.uidvalidity != first.uidvalidity
    assert (second.seen, len(second.stored), second.duplicates) == (2, 1, 1)


def _lmtp_session(port: int, mail_from: str, rcpts: list[str], raw: bytes) -> list[str]:
    """A minimal LMTP client that returns every reply line after the final dot."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        stream = sock.makefile("rwb")

        def reply() -> str:
            lines = []
            while True:
                line = stream.readline().decode()
                lines.append(line.strip())
                if line[3:4] != "-":
                    return "\n".join(lines)

        def send(line: str) -> str:
            stream.write(line.encode() + b"\r\n")
            stream.flush()
            return reply()

        assert reply().startswith("220")
        assert send("LHLO mta.hrn.example").startswith("250")
        assert send(f"MAIL FROM:<{mail_from}>").startswith("250")
        for rcpt in rcpts:
            assert send(f"RCPT TO:<{rcpt}>").startswith("250")
        assert send("DATA").startswith("354")
        body = raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        body = b"\r\n".join(
            b"." + line if line.startswith(b".") else line for line in body.split(b"\r\n")
        )
        stream.write(body + b"\r\n.\r\n")
        stream.flush()
        answers = [reply() for _ in rcpts]
        send("QUIT")
        return answers


def test_lmtp_delivery_ends_like_imap_and_answers_each_recipient(
    world: World, sessions: sessionmaker[Session]
) -> None:
    green = world.sent("info@green.example")
    token_address = green.recipients and world.invitation("info@green.example").token
    raw = reply_to(green.raw or b"", "Yes, we sign!", sender="info@green.example")
    port = free_port()
    controller = start_listener(
        sessions,
        "127.0.0.1",
        port,
        store=ingest,
        on_stored=_processor(sessions, world),
        clock=lambda: NOW,
    )
    try:
        rcpts = [f"signon+{token_address}@hrn.example", "signon@hrn.example"]
        answers = _lmtp_session(port, "info@green.example", rcpts, raw)
        again = _lmtp_session(port, "info@green.example", rcpts, raw)
    finally:
        controller.stop()
    assert len(answers) == 2 and all(a.startswith("250") for a in answers)
    assert rcpts[0] in answers[0] and rcpts[1] in answers[1]
    assert all("already received" in a for a in again)
    world.session.rollback()
    signature = world.session.scalars(select(Signature)).one()
    inbound = world.session.get(InboundMessage, signature.inbound_message_id)
    assert inbound is not None and inbound.source == "lmtp"
    assert world.invitation("info@green.example").state == InvitationState.SIGNED.value
    assert (
        len(
            world.session.scalars(
                select(OutboundMessage).where(OutboundMessage.kind == "acknowledgement")
            ).all()
        )
        == 1
    )


def test_the_service_listener_hands_deliveries_on_in_groups(world: World) -> None:
    """`outreach intake lmtp` (start_lmtp): deliveries close together become one task, each
    stored message in exactly one, and stopping hands on what was still gathered."""
    from support.hostile_run import lmtp_deliver

    from worker.actions.intake import start_lmtp

    groups: list[list[int]] = []
    port = free_port()
    listening = start_lmtp("127.0.0.1", port, on_stored=groups.append, gather=30.0)
    raws = [
        reply_to(world.sent(a).raw or b"", "Yes, we sign.", sender=a)
        for a in ("info@green.example", "office@kyoto-peace.example", "forestwatch@gmail.com")
    ]
    try:
        answers = [lmtp_deliver(port, raw, "signon@hrn.example") for raw in raws]
        assert groups == []  # gathered for up to 30 s: nothing handed on yet
    finally:
        listening.stop()
    assert all(a.startswith("250") for a in answers), answers
    world.session.rollback()
    stored = world.session.scalars(
        select(InboundMessage.id).where(InboundMessage.source == "lmtp").order_by(InboundMessage.id)
    ).all()
    assert groups == [list(stored)] and len(stored) == 3

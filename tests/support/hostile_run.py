"""Push hostile messages through the real LMTP listener and a real Dovecot mailbox, process every
stored message, and count what happened (tests/intake/test_hostile_fuzz.py, bench/hostile.py)."""

from __future__ import annotations

import re
import socket
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from imapclient import IMAPClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from support.hostile import ACTING, Hostile, Target

from worker.actions.ingest import ingest, ingest_many
from worker.actions.process_reply import process_reply
from worker.core.states import InboundState
from worker.mail.inbox import poll_mailbox
from worker.mail.lmtp import start_listener
from worker.models import (
    Contact,
    InboundMessage,
    Invitation,
    MailboxCursor,
    OutboundMessage,
    Signature,
    Suppression,
)
from worker.settings import ImapTarget

_FUZZ_ID = re.compile(rb"X-Fuzz-Id: (\d+)\r?\n")


@dataclass
class Counts:
    sent: int = 0
    lmtp_not_250: int = 0
    imap_refused_by_server: int = 0  # APPEND refused by Dovecot itself (never reached us)
    stored: int = 0
    quarantined: int = 0
    lost: int = 0  # sent (and accepted) but no row
    crashes: int = 0
    left_stored: int = 0  # rows never processed to an end state
    false_actions: int = 0  # forged messages that acted
    genuine: int = 0
    genuine_signed: int = 0
    false_signatures: int = 0  # signatures not backed by a genuine-sender message
    unproven_address_changes: int = 0  # suppressions / bounced contacts (no proven bounce sent)
    imap_cursor_behind: int = 0
    states: Counter[str] = field(default_factory=Counter)
    actions: Counter[str] = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)


def targets_of(session: Session, campaign_id: int) -> list[Target]:
    found: list[Target] = []
    for invitation in session.scalars(
        select(Invitation).where(Invitation.campaign_id == campaign_id)
    ):
        sent = session.scalars(
            select(OutboundMessage).where(
                OutboundMessage.invitation_id == invitation.id,
                OutboundMessage.kind == "invitation",
            )
        ).first()
        if sent is None:
            continue
        email = invitation.contact.email
        found.append(Target(
            org=invitation.organisation.key,
            email=email,
            token=invitation.token,
            reply_address=f"signon+{invitation.token}@hrn.example",
            message_id=sent.message_id,
            domain=email.rsplit("@", 1)[1],
        ))
    return found


class FixedDomains:
    """The LMTP listener's `domains`, fixed."""

    def __init__(self, domains: set[str]) -> None:
        self.domains = domains

    def __call__(self, *, fresh: bool = False) -> set[str]:
        return self.domains

    def peek(self) -> set[str]:
        return self.domains


def lmtp_deliver(port: int, raw: bytes, rcpt: str) -> str:
    """One LMTP transaction as an MTA runs it (dot-stuffed, CRLF); the final reply line."""
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        stream = sock.makefile("rwb")

        def reply() -> str:
            while True:
                line = stream.readline().decode("utf-8", "replace")
                if line[3:4] != "-":
                    return line.strip()

        def send(line: str) -> str:
            stream.write(line.encode() + b"\r\n")
            stream.flush()
            return reply()

        reply()
        send("LHLO mta.hrn.example")
        send("MAIL FROM:<sender@mta.example>")
        answer = send(f"RCPT TO:<{rcpt}>")
        if not answer.startswith("250"):
            return answer
        send("DATA")
        body = re.sub(rb"\r?\n|\r", b"\r\n", raw)
        body = b"\r\n".join(b"." + ln if ln.startswith(b".") else ln for ln in body.split(b"\r\n"))
        stream.write(body + b"\r\n.\r\n")
        stream.flush()
        answer = reply()
        send("QUIT")
        return answer


def deliver_lmtp(sessions: sessionmaker[Session], messages: list[Hostile], now: datetime,
                 counts: Counts) -> None:
    from support.dovecot import free_port

    port = free_port()
    controller = start_listener(sessions, "127.0.0.1", port, store=ingest, clock=lambda: now,
                                domains=FixedDomains({"hrn.example"}), store_many=ingest_many)
    try:
        for message in messages:
            counts.sent += 1
            answer = lmtp_deliver(port, message.raw, "signon@hrn.example")
            if not answer.startswith("250"):
                counts.lmtp_not_250 += 1
                counts.examples.append(f"lmtp {message.fuzz_id} {message.category}: {answer}")
    finally:
        controller.stop()


def deliver_imap(sessions: sessionmaker[Session], messages: list[Hostile], target: ImapTarget,
                 now: datetime, counts: Counts) -> set[int]:
    """APPEND each message, then poll once; returns the fuzz ids the server refused."""
    refused: set[int] = set()
    with IMAPClient(target.host, port=target.port, ssl=False) as client:
        client.login(target.username, target.password)
        for message in messages:
            counts.sent += 1
            try:
                client.append(target.folder, message.raw)
            except Exception as exc:  # the server's own refusal: never reached us
                counts.imap_refused_by_server += 1
                refused.add(message.fuzz_id)
                counts.examples.append(f"imap-append {message.fuzz_id}: {exc}"[:200])
        uids = client.select_folder(target.folder)[b"UIDNEXT"]
    result = poll_mailbox(
        target, sessions, store=ingest, store_many=ingest_many, clock=lambda: now
    )  # the service's way: one transaction per fetched chunk
    with sessions() as session:
        cursor = session.scalars(select(MailboxCursor)).first()
        if cursor is None or cursor.last_uid < int(uids) - 1 or result.last_uid < int(uids) - 1:
            counts.imap_cursor_behind += 1
    return refused


def process_all(sessions: sessionmaker[Session], secret: bytes, now: datetime, counts: Counts,
                authserv_id: str = "mx.hrn.example") -> dict[int, str]:
    """Process every stored message in its own transaction; inbound id -> action."""
    actions: dict[int, str] = {}
    with sessions() as session:
        ids = list(session.scalars(
            select(InboundMessage.id).where(InboundMessage.state == InboundState.STORED.value)
            .order_by(InboundMessage.id)
        ))
    for inbound_id in ids:
        try:
            with sessions.begin() as session:
                outcome = process_reply(session, inbound_id, now=now, secret=secret,
                                        authserv_id=authserv_id)
                actions[inbound_id] = outcome.action
        except Exception as exc:
            counts.crashes += 1
            counts.examples.append(f"crash inbound {inbound_id}: {type(exc).__name__}: {exc}"[:300])
    return actions


def tally(sessions: sessionmaker[Session], messages: list[Hostile], actions: dict[int, str],
          counts: Counts, refused: set[int] | None = None) -> Counts:
    """Compare what was sent with what the database holds."""
    refused = refused or set()
    by_id = {m.fuzz_id: m for m in messages}
    with sessions() as session:
        rows: dict[int, Any] = {}
        for row in session.scalars(select(InboundMessage)):
            found = _FUZZ_ID.search(row.raw[:4000])
            if found:
                rows[int(found.group(1))] = row
        for message in messages:
            row = rows.get(message.fuzz_id)
            if message.fuzz_id in refused:
                continue
            if row is None:
                counts.lost += 1
                counts.examples.append(f"lost {message.fuzz_id} {message.category}")
                continue
            counts.stored += 1
            counts.states[row.state] += 1
            if (row.error or "").startswith("quarantined"):
                counts.quarantined += 1
            if row.state == InboundState.STORED.value:
                counts.left_stored += 1
            action = actions.get(row.id, "")
            counts.actions[f"{message.kind}:{action or row.state}"] += 1
            if message.kind == "forged" and action.startswith(ACTING):
                counts.false_actions += 1
                what = f"forged acted {message.fuzz_id} {message.category}: {action}"
                counts.examples.append(what)
            if message.kind == "genuine":
                counts.genuine += 1
                counts.genuine_signed += action in ("signed", "confirmed")
        allowed = {rows[m.fuzz_id].id for m in messages if m.org and m.fuzz_id in rows}
        for signature in session.scalars(select(Signature)):
            if signature.inbound_message_id not in allowed:
                counts.false_signatures += 1
        counts.unproven_address_changes = len(session.scalars(select(Suppression)).all()) + len(
            session.scalars(select(Contact).where(Contact.address_state != "ok")).all()
        )
        del by_id
    return counts

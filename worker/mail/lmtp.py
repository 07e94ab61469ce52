"""The LMTP listener: an MTA delivers straight to us; we store the raw message, then enqueue it.

The use case that stores a message is passed in as `store` (mail never imports actions).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection
from datetime import UTC, datetime
from typing import Any, Protocol

import structlog
from aiosmtpd.controller import Controller
from aiosmtpd.lmtp import LMTP
from sqlalchemy.orm import Session, sessionmaker

from worker.mail.inbox import Ingest

log = structlog.get_logger(__name__)

MAX_MESSAGE_BYTES = 50 * 1024 * 1024


def with_envelope(raw: bytes, recipients: list[str]) -> bytes:
    """Record the envelope recipients as Delivered-To lines, as an MTA's delivery agent does.

    The token may be only in the envelope (a Bcc, a list expansion); matching reads these.
    """
    lines = b"".join(f"Delivered-To: {r}\r\n".encode("utf-8", "replace") for r in recipients)
    return lines + raw


class Domains(Protocol):
    """The recipient domains we receive mail for; may answer from a cache unless `fresh`.
    `peek` gives the cached answer without blocking (None: call), so a RCPT needs no trip
    to a thread (one costs ~0.2 ms of CPU on a small VM)."""

    def __call__(self, *, fresh: bool = False) -> Collection[str]: ...

    def peek(self) -> Collection[str] | None: ...


class IntakeHandler:
    """aiosmtpd handler: DATA stores the message once, then answers once per recipient."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        store: Ingest,
        on_stored: Callable[[list[int]], None] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        domains: Domains | None = None,
    ) -> None:
        self.domains = domains  # None: any domain (tests); the service passes ours
        self.sessions = sessions
        self.store = store
        self.on_stored = on_stored
        self.clock = clock

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        if "\r" in address or "\n" in address or "@" not in address:
            return f"550 5.1.3 <{address}>: not a mailbox address"
        if self.domains is not None:
            domain = address.rsplit("@", 1)[-1].strip(">").lower()
            try:
                held = self.domains.peek()
                ours = held if held is not None else await asyncio.to_thread(self.domains)
                if domain not in {d.lower() for d in ours}:  # asked again before refusing
                    ours = await asyncio.to_thread(self.domains, fresh=True)
            except Exception:  # database down: the MTA retries later
                log.exception("lmtp.domains_unavailable")
                return "451 4.3.0 cannot check the recipient now; try again later"
            if domain not in {d.lower() for d in ours}:
                return f"550 5.1.2 <{address}>: we do not receive mail for {domain}"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        recipients = list(envelope.rcpt_tos)
        raw = envelope.original_content or b""
        try:
            new_id = await asyncio.to_thread(self._store, with_envelope(raw, recipients))
        except Exception as exc:  # database down: the MTA keeps the message and retries
            log.exception("lmtp.store_failed", recipients=recipients)
            reply = f"451 4.3.0 not stored ({type(exc).__name__}); try again later"
            return "\r\n".join(reply for _ in recipients)
        what = f"stored as {new_id}" if new_id is not None else "already received"
        # LMTP (RFC 2033): one reply per accepted recipient, in RCPT order.
        return "\r\n".join(f"250 2.0.0 <{r}> {what}" for r in recipients)

    def _store(self, raw: bytes) -> int | None:
        """Store (committed), then hand the new message on, in one trip to a thread."""
        with self.sessions.begin() as session:
            new_id = self.store(session, raw, source="lmtp", now=self.clock())
        if new_id is not None and self.on_stored is not None:
            try:
                self.on_stored([new_id])
            except Exception:  # stored is what counts; the poll sweep enqueues it later
                log.exception("lmtp.enqueue_failed", inbound_id=new_id)
        return new_id


# RFC 5321 allows 998 characters a line; real mail (and attackers) send far longer ones. A
# refusal would bounce the message for good, so we take them and store the bytes as sent.
MAX_LINE_BYTES = 2 * 1024 * 1024


class _LongLinesLMTP(LMTP):
    line_length_limit = MAX_LINE_BYTES


class LMTPController(Controller):
    """An aiosmtpd controller that speaks LMTP instead of SMTP, in its own thread."""

    def factory(self) -> LMTP:
        return _LongLinesLMTP(
            self.handler,
            data_size_limit=MAX_MESSAGE_BYTES,
            enable_SMTPUTF8=True,
            decode_data=False,
            hostname="outreach-lmtp",
        )


def start_listener(
    sessions: sessionmaker[Session],
    host: str,
    port: int,
    *,
    store: Ingest,
    on_stored: Callable[[list[int]], None] | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    domains: Domains | None = None,
) -> LMTPController:
    """Start listening (in a background thread); call `.stop()` to end it.

    `domains` returns the recipient domains we accept (others get 550); None accepts any.
    """
    handler = IntakeHandler(sessions, store, on_stored, clock, domains)
    controller = LMTPController(handler, hostname=host, port=port)
    controller.start()
    log.info("lmtp.listening", host=host, port=port)
    return controller

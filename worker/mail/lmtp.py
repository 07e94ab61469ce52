"""The LMTP listener: an MTA delivers straight to us; we store the raw message, then enqueue it.

The use cases that store messages are passed in as `store` and `store_many` (mail never
imports actions). With `store_many`, deliveries that arrive while a group is being stored wait
and are stored together, in one transaction (group commit): each is answered 250 only once
that transaction committed, as before, at a fraction of the round trips per message.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

import structlog
from aiosmtpd.controller import Controller
from aiosmtpd.lmtp import LMTP
from sqlalchemy.orm import Session, sessionmaker

from worker.mail.inbox import Ingest

log = structlog.get_logger(__name__)

MAX_MESSAGE_BYTES = 50 * 1024 * 1024
GROUP_MAX = 50  # deliveries stored in one transaction at most


class IngestMany(Protocol):
    """Store several raw messages in the caller's transaction; for each, its new id or None."""

    def __call__(
        self, session: Session, raws: Sequence[bytes], *, source: str, now: datetime
    ) -> list[int | None]: ...


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
        store_many: IngestMany | None = None,
    ) -> None:
        self.domains = domains  # None: any domain (tests); the service passes ours
        self.sessions = sessions
        self.store = store
        self.store_many = store_many
        self.on_stored = on_stored
        self.clock = clock
        self._waiting: list[tuple[bytes, asyncio.Future[int | None]]] = []
        self._storer: asyncio.Task[None] | None = None  # the one group being stored

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
            raw = with_envelope(raw, recipients)
            if self.store_many is None:
                new_id = await asyncio.to_thread(self._store, raw)
            else:
                new_id = await self._store_in_group(raw)
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
        self._hand_on([new_id])
        return new_id

    async def _store_in_group(self, raw: bytes) -> int | None:
        """Wait for the group this delivery joins to be committed; its id, or its error."""
        future: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()
        self._waiting.append((raw, future))
        if self._storer is None or self._storer.done():
            self._storer = asyncio.create_task(self._store_waiting())
        return await future

    async def _store_waiting(self) -> None:
        """Store what waits, group after group, until nothing does: a group forms from the
        deliveries that arrived while the one before it was being stored (no timer)."""
        while self._waiting:
            group, self._waiting = self._waiting[:GROUP_MAX], self._waiting[GROUP_MAX:]
            outcomes: Sequence[int | Exception | None]
            try:
                outcomes = await asyncio.to_thread(self._store_group, [raw for raw, _ in group])
            except asyncio.CancelledError:  # stopping: none of them is told "stored"
                self._settle(group, [RuntimeError("the listener stopped")] * len(group))
                raise
            except Exception as exc:  # no thread to store in: each hears 451, none waits on
                outcomes = [exc] * len(group)
            self._settle(group, outcomes)

    @staticmethod
    def _settle(
        group: list[tuple[bytes, asyncio.Future[int | None]]],
        outcomes: Sequence[int | Exception | None],
    ) -> None:
        for (_, future), outcome in zip(group, outcomes, strict=True):
            if future.done():  # the client went away; a resent copy is found by its digest
                continue
            if isinstance(outcome, Exception):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)

    def _store_group(self, raws: list[bytes]) -> list[int | Exception | None]:
        """One transaction for the group; if it fails, each message alone (`store` keeps the
        others safe from one the database refuses, and quarantines that one)."""
        assert self.store_many is not None
        try:
            with self.sessions.begin() as session:
                ids = self.store_many(session, raws, source="lmtp", now=self.clock())
        except Exception:
            log.warning("lmtp.group_store_failed", size=len(raws), exc_info=True)
        else:
            self._hand_on(ids)
            return list(ids)
        outcomes: list[int | Exception | None] = []
        for raw in raws:
            try:
                outcomes.append(self._store(raw))
            except Exception as exc:  # this one gets 451; the MTA retries it
                outcomes.append(exc)
        return outcomes

    def _hand_on(self, ids: Sequence[int | None]) -> None:
        new = [i for i in ids if i is not None]
        if not new or self.on_stored is None:
            return
        try:
            self.on_stored(new)
        except Exception:  # stored is what counts; the poll sweep enqueues it later
            log.exception("lmtp.enqueue_failed", inbound_ids=new)


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
    store_many: IngestMany | None = None,
) -> LMTPController:
    """Start listening (in a background thread); call `.stop()` to end it.

    `domains` returns the recipient domains we accept (others get 550); None accepts any.
    `store_many` given: deliveries are stored in groups (group commit).
    """
    handler = IntakeHandler(sessions, store, on_stored, clock, domains, store_many)
    controller = LMTPController(handler, hostname=host, port=port)
    controller.start()
    log.info("lmtp.listening", host=host, port=port)
    return controller

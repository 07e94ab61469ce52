"""Mail in, as use cases: process stored messages (one, or a batch per transaction), hand
stored messages to the queue, find the ones whose task was lost, poll the mailbox, listen on LMTP.

The mail adapters (IMAP, LMTP) get the storing use case (`ingest`) from here; the tasks and
the CLI call these functions and never wire adapters themselves.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from operator import attrgetter
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session

from worker.actions.gathered import Gathered
from worker.actions.ingest import ingest, ingest_many
from worker.actions.intake_failures import MAX_ATTEMPTS, record_processing_failure
from worker.actions.outbox import publish_after_commit
from worker.actions.outbox_buffer import OutboxBuffer
from worker.actions.process_reply import Outcome, process_reply
from worker.actions.publisher import get_publisher
from worker.actions.reply_lookups import Prefetched
from worker.core.states import InboundState
from worker.db import session_factory, session_scope
from worker.mail.inbox import PollResult, poll_mailbox
from worker.models import InboundMessage
from worker.settings import get_settings

log = structlog.get_logger(__name__)

# A stored message still unprocessed after this long lost its task (broker restart, crash
# between commit and enqueue); the poll sweep enqueues it again (processing is idempotent).
STALE_STORED = timedelta(minutes=2)
SWEEP_LIMIT = 500
# Stored messages handed to one "intake.process_batch" task and processed in one transaction.
BATCH_SIZE = 50


def process_now(inbound_id: int, *, now: datetime | None = None) -> Outcome:
    """Process one stored message in its own transaction; outgoing mail is published on commit.

    A failure leaves the message `stored` (the sweep tries again); after MAX_ATTEMPTS failures
    it goes to review with the error, so a bug never loses a reply nor loops for ever.
    """
    settings = get_settings()
    try:
        with session_scope() as session:
            outcome = process_reply(
                session,
                inbound_id,
                now=now or datetime.now(UTC),
                secret=settings.secret(),
                authserv_id=settings.authserv_id,
            )
            publish_after_commit(session, outcome.outbox_ids)
    except Exception as exc:
        log.exception("intake.process_failed", inbound_id=inbound_id)
        with session_scope() as session:
            record_processing_failure(session, inbound_id, exc, max_attempts=MAX_ATTEMPTS)
        raise
    _log_processed(outcome)
    return outcome


def _log_processed(outcome: Outcome) -> None:
    """One log line per reply, alike whether it was processed alone or in a batch."""
    log.info(
        "intake.processed",
        inbound_id=outcome.inbound_id,
        state=outcome.state,
        action=outcome.action,
        invitation_id=outcome.invitation_id,
    )


def process_batch(
    inbound_ids: Sequence[int], *, now: datetime | None = None, fill: bool = False
) -> list[Outcome]:
    """Process stored messages in ONE transaction, in arrival (id) order; outgoing mail is
    published on commit. Same outcomes as `process_now` for each, in fewer round trips.

    `fill` (the intake task's way): take up to BATCH_SIZE messages, adding the oldest other
    stored ones that no other worker holds. Under load each task then processes a full batch,
    and the tasks of the messages it took find them processed (one cheap query each).

    1. Lock the rows; read what matching needs for all of them at once (`Prefetched`, which
       asks again wherever an earlier message of the batch changed the answer).
    2. Process them one after the other in id order, so the replies of one organisation act
       in the order they arrived, each seeing what the previous one did.
    3. Anything fails -> the whole batch rolls back and each message is processed alone
       (`process_now`): a bad message costs its neighbours time, never a reply, and its
       failure is counted as before.
    """
    ids = sorted(set(inbound_ids))
    if not ids:
        return []
    settings = get_settings()
    secret = settings.secret()
    outcomes: list[Outcome] = []
    try:
        with session_scope() as session:
            # 1.
            # With `fill`, a message another worker's batch holds is skipped, not waited for:
            # that batch acts on it (or, failing, processes it alone; else the sweep re-drives).
            rows = list(
                session.scalars(
                    select(InboundMessage)
                    .where(InboundMessage.id.in_(ids))
                    .order_by(InboundMessage.id)
                    .with_for_update(skip_locked=fill)
                )
            )
            stored = [row for row in rows if row.state == InboundState.STORED.value]
            if not stored:  # taken along by other batches: nothing to read or write
                return [_not_stored(inbound_id, rows) for inbound_id in ids]
            if fill:
                more = (
                    _waiting(session, ids, BATCH_SIZE - len(ids)) if len(ids) < BATCH_SIZE else []
                )
                by_id = attrgetter("id")
                rows, stored = (
                    sorted([*rows, *more], key=by_id),
                    sorted([*stored, *more], key=by_id),
                )
                ids = [row.id for row in rows]  # never one another batch holds
            with Prefetched(session, stored) as lookups, OutboxBuffer(session):
                # 2.
                for inbound_id in ids:
                    outcome = process_reply(
                        session,
                        inbound_id,
                        now=now or datetime.now(UTC),
                        secret=secret,
                        authserv_id=settings.authserv_id,
                        lookups=lookups,
                    )
                    outcomes.append(outcome)
            # The acknowledgements were held and written as one INSERT when the buffer closed.
            for outcome in outcomes:
                publish_after_commit(session, outcome.outbox_ids)
    except Exception:
        # 3.
        log.warning("intake.batch_failed", inbound_ids=ids, exc_info=True)
        alone: list[Outcome] = []
        for inbound_id in ids:
            with contextlib.suppress(Exception):  # logged and counted by process_now
                alone.append(process_now(inbound_id, now=now))
        return alone
    for outcome in outcomes:
        _log_processed(outcome)
    return outcomes


def _waiting(session: Session, taken: Sequence[int], limit: int) -> list[InboundMessage]:
    """The oldest other stored messages, locked; those another worker holds are skipped."""
    return list(
        session.scalars(
            select(InboundMessage)
            .where(
                InboundMessage.state == InboundState.STORED.value,
                InboundMessage.id.not_in(taken),
            )
            .order_by(InboundMessage.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    )


def _not_stored(inbound_id: int, rows: Sequence[InboundMessage]) -> Outcome:
    """What `process_reply` answers for a message that is gone or no longer `stored`."""
    row = next((r for r in rows if r.id == inbound_id), None)
    if row is None:  # gone, or held by another batch (`fill` skips locked rows)
        return Outcome(inbound_id, "missing-or-held", "none")
    return Outcome(inbound_id, row.state, "already-processed", row.invitation_id)


def enqueue(inbound_ids: Sequence[int], batch_size: int = BATCH_SIZE) -> None:
    """Hand stored messages to the intake queue (ids only, `batch_size` per task). Call after
    the commit."""
    publisher = get_publisher()
    ids = list(inbound_ids)
    for start in range(0, len(ids), batch_size):
        publisher.send("intake.process_batch", [ids[start : start + batch_size]], queue="intake")


def sweep_stored(now: datetime, older_than: timedelta = STALE_STORED) -> list[int]:
    """Stored messages whose processing task was lost."""
    with session_scope() as session:
        return list(
            session.scalars(
                select(InboundMessage.id)
                .where(
                    InboundMessage.state == InboundState.STORED.value,
                    InboundMessage.received_at <= now - older_than,
                )
                .order_by(InboundMessage.id)
                .limit(SWEEP_LIMIT)
            )
        )


def poll_once(on_stored: Callable[[list[int]], None] | None = enqueue) -> PollResult | None:
    """One IMAP pass now; None when no mailbox is configured (OUTREACH_IMAP_URL)."""
    target = get_settings().imap_target()
    if target is None:
        return None
    return poll_mailbox(
        target, session_factory(), store=ingest, store_many=ingest_many, on_stored=on_stored
    )


# The LMTP listener hands its deliveries on in groups gathered over this long (at most
# BATCH_SIZE): a reply waits this much longer, and a busy listener queues one task per group.
GATHER_SECONDS = 0.25


def start_lmtp(
    host: str,
    port: int,
    on_stored: Callable[[list[int]], None] | None = enqueue,
    gather: float = GATHER_SECONDS,
) -> Any:
    """Start the LMTP listener in a background thread; call `.stop()` on the result (which
    hands on what was gathered). `gather` 0: each delivery is handed on at once."""
    from worker.actions.mail_domains import domains_reader
    from worker.mail.lmtp import start_listener

    sessions = session_factory()
    domains = domains_reader(sessions, get_settings().lmtp_domains)  # others are refused
    gathered = (
        Gathered(on_stored, size=BATCH_SIZE, wait=gather) if on_stored and gather > 0 else None
    )
    controller = start_listener(
        sessions,
        host,
        port,
        store=ingest,
        store_many=ingest_many,
        on_stored=gathered or on_stored,
        domains=domains,
    )
    return _Listening(controller, gathered)


class _Listening:
    """The running listener; `stop` ends it, then hands on the ids still gathered."""

    def __init__(self, controller: Any, gathered: Gathered | None) -> None:
        self.controller = controller
        self.gathered = gathered

    def stop(self) -> None:
        self.controller.stop()
        if self.gathered is not None:
            self.gathered.close()

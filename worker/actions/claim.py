"""Outbox rows under a lease: take them, keep the lease alive while sending, re-drive the stalled.

A lease is short (seconds, `OUTREACH_OUTBOX_LEASE_SECONDS`) and a live worker extends it from a
heartbeat thread, so the rows of a worker that died are sent again within one lease, while a
slow relay (or a long rate-limit wait) never lets a live worker's rows be taken twice.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, func, or_, select, update
from sqlalchemy.orm import Session

from worker.actions import audit
from worker.actions.suppression import suppressed_among
from worker.core.audit_actions import AuditAction
from worker.core.retry import RetryPolicy
from worker.core.states import OUTBOX_TRANSITIONS, CampaignState, OutboxState
from worker.models import Campaign, OutboundMessage, utcnow

log = logging.getLogger(__name__)

# A crash while one of these was `sending` leaves us unable to tell whether it went out;
# a person decides (`outreach outbox resolve`) instead of a second automatic send.
NEVER_RESEND_KINDS = frozenset({"final_letter"})
ACTOR = "outbox"
_PROCESS_TAG = secrets.token_hex(3)


def worker_name() -> str:
    """Who holds a claim: host, process and a random tag (a recycled pid in a new container
    must never be mistaken for the dead worker that held the rows)."""
    return f"{socket.gethostname()}:{os.getpid()}:{_PROCESS_TAG}"


def reset_worker_name() -> None:
    """After fork: the child gets its own tag."""
    global _PROCESS_TAG
    _PROCESS_TAG = secrets.token_hex(3)


@dataclass(frozen=True)
class Claimed:
    id: int
    campaign_id: int
    contact_id: int | None
    invitation_id: int | None
    kind: str
    attempts: int
    envelope_from: str
    recipients: list[str]
    message_id: str
    raw: bytes
    first_attempt_at: datetime | None = None


@dataclass
class SendReport:
    claimed: int = 0
    sent: int = 0
    retry: int = 0
    failed: int = 0
    suppressed: int = 0
    bounced_contacts: list[int] = field(default_factory=list)


def suppressed_addresses(session: Session, addresses: Iterable[str]) -> set[str]:
    """Which of these addresses are on the suppression list (lower-cased)."""
    return suppressed_among(session, addresses)


def _is_claimable(now: datetime) -> Any:
    t = OutboundMessage
    return or_(
        (t.state.in_([OutboxState.QUEUED.value, OutboxState.RETRY.value]))
        & (t.next_attempt_at <= now),
        (t.state == OutboxState.SENDING.value)
        & (t.lease_until < now)
        & t.kind.not_in(sorted(NEVER_RESEND_KINDS)),
    )


def paused_campaigns() -> Any:
    return select(Campaign.id).where(Campaign.state == CampaignState.PAUSED.value)


def suppress_rows(session: Session, ids: Sequence[int], now: datetime) -> int:
    """Rows still waiting whose recipient has since been suppressed never go out."""
    waiting = [OutboxState.QUEUED.value, OutboxState.RETRY.value]
    rows = session.execute(
        select(OutboundMessage.id, OutboundMessage.recipients, OutboundMessage.campaign_id).where(
            OutboundMessage.id.in_(ids), OutboundMessage.state.in_(waiting)
        )
    ).all()
    blocked = suppressed_addresses(session, {a for _, recipients, _ in rows for a in recipients})
    if not blocked:
        return 0
    count = 0
    for row_id, recipients, campaign_id in rows:
        if not any(a.lower() in blocked for a in recipients):
            continue
        done = cast(
            "CursorResult[Any]",
            session.execute(
                update(OutboundMessage)
                .where(OutboundMessage.id == row_id, OutboundMessage.state.in_(waiting))
                .values(state=OutboxState.SUPPRESSED.value, updated_at=now),
            ),
        ).rowcount
        if done:
            count += 1
            audit.record(
                session,
                actor=ACTOR,
                entity="outbound_message",
                entity_id=row_id,
                action=AuditAction.SUPPRESSED,
                campaign_id=campaign_id,
                to_state=OutboxState.SUPPRESSED.value,
                detail={"addresses": sorted(a for a in recipients if a.lower() in blocked)},
            )
    return count


def claim(
    session: Session, ids: Sequence[int], *, now: datetime, claimer: str, lease: timedelta
) -> list[Claimed]:
    """Take the rows that are due and free, under a lease; others (taken, sent, or locked by a
    transaction elsewhere) are left alone, never waited for."""
    t = OutboundMessage
    free = select(t.id).where(t.id.in_(ids)).with_for_update(skip_locked=True)
    stmt = (
        update(t)
        .where(t.id.in_(free), _is_claimable(now), t.campaign_id.not_in(paused_campaigns()))
        .values(
            state=OutboxState.SENDING.value,
            lease_until=now + lease,
            claimed_by=claimer,
            attempts=t.attempts + 1,
            first_attempt_at=func.coalesce(t.first_attempt_at, now),
            updated_at=now,
        )
        .returning(
            t.id,
            t.campaign_id,
            t.contact_id,
            t.invitation_id,
            t.kind,
            t.attempts,
            t.envelope_from,
            t.recipients,
            t.message_id,
            t.raw,
            t.first_attempt_at,
        )
        .execution_options(synchronize_session=False)
    )
    claimed = [Claimed(*row) for row in session.execute(stmt).all()]
    return sorted(claimed, key=lambda c: c.id)


class LeaseKeeper:
    """Extends the lease of the rows this worker still holds, every quarter lease, from a thread.

    `done(id)` drops a row once its answer is recorded. The thread uses its own session; a
    database hiccup is logged and tried again at the next beat (the lease has 3 more quarters).
    """

    def __init__(
        self,
        session_factory: Callable[[], Session],
        claimer: str,
        ids: Iterable[int],
        lease: timedelta,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.session_factory, self.claimer, self.lease, self.clock = (
            session_factory,
            claimer,
            lease,
            clock,
        )
        self.held = set(ids)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lease-keeper", daemon=True)

    def __enter__(self) -> LeaseKeeper:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def done(self, row_id: int) -> None:
        with self._lock:
            self.held.discard(row_id)

    def _run(self) -> None:
        interval = max(0.05, self.lease.total_seconds() / 4)
        while not self._stop.wait(interval):
            with self._lock:
                ids = sorted(self.held)
            if not ids:
                continue
            try:
                extend_leases(self.session_factory, self.claimer, ids, self.clock() + self.lease)
            except Exception:  # the next beat tries again
                log.warning("could not extend the lease of %d outbox rows", len(ids), exc_info=True)


def extend_leases(
    session_factory: Callable[[], Session], claimer: str, ids: Sequence[int], until: datetime
) -> int:
    """Move the lease of rows still `sending` under `claimer` to `until` (one UPDATE)."""
    t = OutboundMessage
    with session_factory() as session, session.begin():
        result = cast(
            "CursorResult[Any]",
            session.execute(
                update(t)
                .where(
                    t.id.in_(ids),
                    t.claimed_by == claimer,
                    t.state == OutboxState.SENDING.value,
                )
                .values(lease_until=until)
                .execution_options(synchronize_session=False)
            ),
        )
        return result.rowcount


def due_for_redrive(
    session: Session,
    *,
    now: datetime,
    lease: timedelta,
    policy: RetryPolicy | None = None,
    dispatch_window: timedelta | None = None,
    limit: int = 10_000,
) -> list[int]:
    """Rows that need an "outbox.send" again (marked dispatched until `now + dispatch_window`,
    so the next scans leave them alone); crashed final letters are held for a person.

    0. retry rows whose time has come (a failure never enqueues a countdown task).
    1. queued rows whose task was lost (not claimed within one dispatch window: broker
       restart, crash before publish), and rows queued with a later `not_before` once due.
    2. sending rows whose lease expired: the worker died mid-send. Final letters go to `held`,
       rows past the retry window to `failed`; the rest are sent again (same Message-ID).
    Each query reads only due rows through an index (ix_outbound_due, ix_outbound_lease).
    """
    policy = policy or RetryPolicy()
    window = dispatch_window or max(lease, timedelta(minutes=2))
    t = OutboundMessage
    expired = session.scalars(
        select(t)
        .where(t.state == OutboxState.SENDING.value, t.lease_until < now)
        .order_by(t.lease_until)
        .with_for_update(skip_locked=True)
        .limit(limit)
    ).all()
    for row in expired:
        first = row.first_attempt_at or row.created_at
        if row.kind in NEVER_RESEND_KINDS:
            target, action = OutboxState.HELD, AuditAction.LEASE_EXPIRED_HELD
        elif now > first + policy.window:
            target, action = OutboxState.FAILED, AuditAction.RETRY_WINDOW_PASSED
        else:
            continue
        audit.move(
            session,
            row,
            OUTBOX_TRANSITIONS,
            target,
            actor="scan",
            action=action,
            detail={"claimed_by": row.claimed_by, "attempts": row.attempts},
        )
        row.lease_until = None
    ids = [r.id for r in expired if r.state == OutboxState.SENDING.value]
    stale = now - window
    waiting = session.scalars(
        select(t.id)
        .where(
            t.state.in_([OutboxState.RETRY.value, OutboxState.QUEUED.value]),
            t.next_attempt_at <= now,
            or_(t.lease_until.is_(None), t.lease_until < now),  # not dispatched by a recent scan
            t.campaign_id.not_in(paused_campaigns()),
            or_(
                t.state == OutboxState.RETRY.value,  # 0
                t.updated_at <= stale,  # 1
                t.next_attempt_at > t.created_at,
            ),
        )
        .order_by(t.next_attempt_at)
        .limit(limit)
    ).all()
    if waiting:
        # 1. For a waiting row `lease_until` is the dispatch marker: it lives as long as the
        # task may wait in the broker, and the claim replaces it.
        session.execute(
            update(t)
            .where(
                t.id.in_(waiting),
                t.state.in_([OutboxState.RETRY.value, OutboxState.QUEUED.value]),
            )
            .values(lease_until=now + window)
            .execution_options(synchronize_session=False)
        )
    return ids + list(waiting)

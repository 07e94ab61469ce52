"""The outbox: queue an email as a row, claim rows under a lease, send them, record the answer.

Every email is a row (with its final Message-ID and bytes) before any SMTP call. Duplicates are
prevented by the data: a unique dedupe key on insert, and a conditional UPDATE to claim.
"""

from __future__ import annotations

import logging
import os
import random
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol, cast

from sqlalchemy import CursorResult, Table, bindparam, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from worker.actions import audit
from worker.actions.publisher import get_publisher
from worker.core.states import (
    INVITATION_TRANSITIONS,
    OUTBOX_TRANSITIONS,
    CampaignState,
    InvitationState,
    OutboxState,
)
from worker.mail.smtp import Envelope, Sender, SendResult
from worker.models import Campaign, Contact, Invitation, OutboundMessage, Suppression, utcnow
from worker.ratelimit import RateLimiter

log = logging.getLogger(__name__)

# A crash while one of these was `sending` leaves us unable to tell whether it went out;
# a person decides (`outreach outbox resolve`) instead of a second automatic send.
NEVER_RESEND_KINDS = frozenset({"final_letter"})
# Kinds whose 550 means this contact's address is dead for the campaign.
CONTACT_KINDS = frozenset({"invitation", "reminder"})
RETRY_CAP = timedelta(hours=1)
ACTOR = "outbox"
_PUBLISH_KEY = "outreach.outbox_publish"


class Prepared(Protocol):
    """What `worker.mail.outgoing.prepare_contact_email` returns (PreparedEmail)."""

    @property
    def envelope_from(self) -> str: ...
    @property
    def recipients(self) -> Sequence[str]: ...
    @property
    def message_id(self) -> str: ...
    @property
    def subject(self) -> str: ...
    @property
    def language(self) -> str | None: ...
    @property
    def raw(self) -> bytes: ...


def make_dedupe_key(campaign_id: int, contact_id: int | None, kind: str, sequence: int) -> str:
    return f"{campaign_id}:{contact_id if contact_id is not None else '-'}:{kind}:{sequence}"


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


# ---------------------------------------------------------------------------------------------
# Queueing


def suppressed_addresses(session: Session, addresses: Iterable[str]) -> set[str]:
    wanted = {a.lower() for a in addresses}
    if not wanted:
        return set()
    rows = session.scalars(
        select(func.lower(Suppression.email)).where(func.lower(Suppression.email).in_(wanted))
    )
    return set(rows)


def _insert_ignoring_duplicates(
    session: Session, table: Any, rows: list[dict[str, Any]]
) -> dict[str, int]:
    """INSERT ... ON CONFLICT DO NOTHING RETURNING: {dedupe_key: id} of the rows inserted.

    One statement executed with many parameter sets: SQLAlchemy's "insertmanyvalues" batches
    them into multi-row INSERTs itself and caches the compiled statement (a hand-built
    `.values(rows)` is compiled afresh for every batch, which cost more than the insert).
    """
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        stmt: Any = postgresql.insert(table).on_conflict_do_nothing()
    elif dialect == "sqlite":
        stmt = sqlite.insert(table).on_conflict_do_nothing()
    else:  # pragma: no cover - only PostgreSQL and SQLite are supported
        raise RuntimeError(f"unsupported database {dialect}")
    returned = session.execute(stmt.returning(table.c.dedupe_key, table.c.id), rows).all()
    return {key: int(new_id) for key, new_id in returned}


@dataclass(frozen=True)
class QueueItem:
    """One email to queue (see `queue_email` for the meaning of each field)."""

    campaign_id: int
    kind: str
    sequence: int
    prepared: Prepared
    contact_id: int | None = None
    invitation_id: int | None = None
    dedupe_key: str | None = None
    not_before: datetime | None = None

    @property
    def key(self) -> str:
        return self.dedupe_key or make_dedupe_key(
            self.campaign_id, self.contact_id, self.kind, self.sequence
        )


def queue_email(
    session: Session,
    *,
    campaign_id: int,
    kind: str,
    sequence: int,
    prepared: Prepared,
    contact_id: int | None = None,
    invitation_id: int | None = None,
    dedupe_key: str | None = None,
    not_before: datetime | None = None,
) -> OutboundMessage | None:
    """Store an email as an outbox row unless its dedupe key exists (then return None).

    The key defaults to "<campaign>:<contact or ->:<kind>:<sequence>". A recipient on the
    suppression list gets a row in state `suppressed`, which is never sent. Nothing is sent
    until the caller publishes the row's id with `publish_after_commit`.
    """
    item = QueueItem(
        campaign_id, kind, sequence, prepared, contact_id, invitation_id, dedupe_key, not_before
    )
    (new_id,) = queue_emails(session, [item])
    return session.get(OutboundMessage, new_id) if new_id is not None else None


@dataclass(frozen=True)
class ClaimAs:
    """Create rows already claimed by `claimer` until `lease_until`, for the caller to send
    at once (see `queue_claimed`); a row whose worker dies is re-driven when the lease ends."""

    claimer: str
    lease_until: datetime


def queue_emails(session: Session, items: Sequence[QueueItem]) -> list[int | None]:
    """`queue_email` for many at once (one INSERT ... ON CONFLICT DO NOTHING, many rows).

    Returns, per item, the new row's id, or None when its dedupe key already existed.
    """
    return [new_id for new_id, _ in _queue(session, items, None)]


def queue_claimed(
    session: Session, items: Sequence[QueueItem], claim: ClaimAs
) -> tuple[list[int | None], list[Claimed]]:
    """`queue_emails`, but the new rows are created in state `sending` under `claim`'s lease.

    The caller sends the returned `Claimed` rows once this transaction has committed (with
    `send_claimed`), which spares the broker round trip, the claiming UPDATE and reading the
    bytes back. Rows for suppressed recipients are created `suppressed` and not returned.
    """
    queued = _queue(session, items, claim)
    claimed = [
        Claimed(
            id=new_id,
            campaign_id=item.campaign_id,
            contact_id=item.contact_id,
            invitation_id=item.invitation_id,
            kind=item.kind,
            attempts=1,
            envelope_from=item.prepared.envelope_from,
            recipients=list(item.prepared.recipients),
            message_id=item.prepared.message_id,
            raw=item.prepared.raw,
        )
        for item, (new_id, is_claimed) in zip(items, queued, strict=True)
        if new_id is not None and is_claimed
    ]
    return [new_id for new_id, _ in queued], claimed


def _queue(
    session: Session, items: Sequence[QueueItem], claim: ClaimAs | None
) -> list[tuple[int | None, bool]]:
    """Insert the rows; per item (its new id or None, whether the row was created claimed)."""
    if not items:
        return []
    now = utcnow()
    suppressed = suppressed_addresses(
        session, [a for item in items for a in item.prepared.recipients]
    )
    table = OutboundMessage.__table__
    rows = [_row_values(item, now, suppressed, claim) for item in items]
    by_key = _insert_ignoring_duplicates(session, table, rows)
    result: list[tuple[int | None, bool]] = []
    blocked_entries: list[dict[str, Any]] = []
    for item, row in zip(items, rows, strict=True):
        new_id = by_key.pop(item.key, None)  # pop: a key given twice is queued once
        result.append((new_id, row["state"] == OutboxState.SENDING.value))
        if new_id is None or not suppressed:
            continue
        blocked = sorted(a.lower() for a in item.prepared.recipients if a.lower() in suppressed)
        if blocked:
            blocked_entries.append(
                {
                    "actor": ACTOR,
                    "entity": "outbound_message",
                    "entity_id": new_id,
                    "action": "suppressed",
                    "campaign_id": item.campaign_id,
                    "to_state": OutboxState.SUPPRESSED.value,
                    "detail": {"addresses": blocked},
                }
            )
    audit.record_many(session, blocked_entries)
    return result


def _row_values(
    item: QueueItem, now: datetime, suppressed: set[str], claim: ClaimAs | None
) -> dict[str, Any]:
    prepared = item.prepared
    blocked = any(a.lower() in suppressed for a in prepared.recipients)
    values = {
        "campaign_id": item.campaign_id,
        "contact_id": item.contact_id,
        "invitation_id": item.invitation_id,
        "kind": item.kind,
        "sequence": item.sequence,
        "dedupe_key": item.key,
        "message_id": prepared.message_id,
        "language": prepared.language,
        "envelope_from": prepared.envelope_from,
        "recipients": list(prepared.recipients),
        "subject": prepared.subject,
        "raw": prepared.raw,
        "state": (OutboxState.SUPPRESSED if blocked else OutboxState.QUEUED).value,
        "attempts": 0,
        "lease_until": None,
        "claimed_by": None,
        "created_at": now,
        "updated_at": now,
        # Later than created_at only for mail held back on purpose; see due_for_redrive.
        "next_attempt_at": max(item.not_before, now) if item.not_before is not None else now,
    }
    if claim is not None and not blocked and item.not_before is None:
        # queued -> sending (the first attempt) in the row's very first version.
        values.update(
            state=OutboxState.SENDING.value,
            attempts=1,
            lease_until=claim.lease_until,
            claimed_by=claim.claimer,
        )
    return values


def publish_after_commit(session: Session, outbox_ids: Iterable[int]) -> None:
    """Send "outbox.send" tasks for these rows once (and only if) the transaction commits."""
    pending: list[int] = session.info.setdefault(_PUBLISH_KEY, [])
    pending.extend(outbox_ids)
    if session.info.get(_PUBLISH_KEY + ".hooked"):
        return
    session.info[_PUBLISH_KEY + ".hooked"] = True
    from sqlalchemy import event

    @event.listens_for(session, "after_commit")
    def _publish(s: Session) -> None:
        ids = s.info.pop(_PUBLISH_KEY, [])
        if ids:
            publish(ids)

    @event.listens_for(session, "after_rollback")
    def _forget(s: Session) -> None:
        s.info.pop(_PUBLISH_KEY, None)


def publish(outbox_ids: Sequence[int], batch_size: int | None = None) -> None:
    """Enqueue "outbox.send" in batches. A lost publish is harmless: the scan re-drives rows."""
    from worker.settings import get_settings

    size = batch_size or get_settings().outbox_batch_size
    ids = sorted(set(outbox_ids))
    try:
        publisher = get_publisher()
        for start in range(0, len(ids), size):
            publisher.send("outbox.send", [ids[start : start + size]])
    except Exception:  # the broker is down: the beat scan will find the rows again
        log.exception("could not publish outbox.send for %d rows; the scan will re-drive", len(ids))


# ---------------------------------------------------------------------------------------------
# Claiming and sending


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


@dataclass
class SendReport:
    claimed: int = 0
    sent: int = 0
    retry: int = 0
    failed: int = 0
    suppressed: int = 0
    bounced_contacts: list[int] = field(default_factory=list)


def _is_claimable(now: datetime) -> Any:
    t = OutboundMessage
    return or_(
        (t.state.in_([OutboxState.QUEUED.value, OutboxState.RETRY.value]))
        & (t.next_attempt_at <= now),
        (t.state == OutboxState.SENDING.value)
        & (t.lease_until < now)
        & t.kind.not_in(sorted(NEVER_RESEND_KINDS)),
    )


def _paused_campaigns() -> Any:
    return select(Campaign.id).where(Campaign.state == CampaignState.PAUSED.value)


def suppress_rows(session: Session, ids: Sequence[int], now: datetime) -> int:
    """Rows still waiting whose recipient has since been suppressed never go out."""
    rows = session.execute(
        select(OutboundMessage.id, OutboundMessage.recipients, OutboundMessage.campaign_id).where(
            OutboundMessage.id.in_(ids),
            OutboundMessage.state.in_([OutboxState.QUEUED.value, OutboxState.RETRY.value]),
        )
    ).all()
    addresses = {a for _, recipients, _ in rows for a in recipients}
    blocked = suppressed_addresses(session, addresses)
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
                .where(
                    OutboundMessage.id == row_id,
                    OutboundMessage.state.in_([OutboxState.QUEUED.value, OutboxState.RETRY.value]),
                )
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
                action="suppressed",
                campaign_id=campaign_id,
                to_state=OutboxState.SUPPRESSED.value,
                detail={"addresses": sorted(a for a in recipients if a.lower() in blocked)},
            )
    return count


def claim(
    session: Session, ids: Sequence[int], *, now: datetime, claimer: str, lease: timedelta
) -> list[Claimed]:
    """Take the rows that are due and free, under a lease; others (taken, sent) are left alone."""
    t = OutboundMessage
    stmt = (
        update(t)
        .where(t.id.in_(ids), _is_claimable(now), t.campaign_id.not_in(_paused_campaigns()))
        .values(
            state=OutboxState.SENDING.value,
            lease_until=now + lease,
            claimed_by=claimer,
            attempts=t.attempts + 1,
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
        )
        .execution_options(synchronize_session=False)
    )
    claimed = [Claimed(*row) for row in session.execute(stmt).all()]
    return sorted(claimed, key=lambda c: c.id)


def retry_delay(attempts: int, base_seconds: float) -> timedelta:
    """Exponential backoff with +-20% jitter, capped at RETRY_CAP."""
    seconds = min(base_seconds * 2 ** max(0, attempts - 1), RETRY_CAP.total_seconds())
    return timedelta(seconds=seconds * random.uniform(0.8, 1.2))


def record_results(
    session: Session,
    claimed: Sequence[Claimed],
    results: Sequence[SendResult],
    *,
    now: datetime,
    claimer: str,
    max_attempts: int,
    retry_base_seconds: float,
) -> SendReport:
    """Write each relay answer to its row (only while we still hold the claim).

    0. 2xx: sent. 1. temporary (4xx, 552, no answer): retry later, or failed once attempts run
    out. 2. other 5xx: failed for good. 3. a 550 to a contact bounces that address: the contact,
    its invitation and a suppression row record it so no further mail goes there.
    """
    report = SendReport(claimed=len(claimed))
    updates: list[dict[str, Any]] = []
    failures: list[tuple[Claimed, SendResult]] = []
    for row, result in zip(claimed, results, strict=True):
        values: dict[str, Any] = {
            "b_id": row.id,
            "b_claimer": claimer,
            "b_code": result.code,
            "b_reply": result.reply[:2000],
            "b_sent_at": None,
            "b_next": now,
        }
        if result.is_sent:  # 0
            values["b_state"] = OutboxState.SENT.value
            values["b_sent_at"] = now
            report.sent += 1
        elif result.is_temporary and row.attempts < max_attempts:  # 1
            values["b_state"] = OutboxState.RETRY.value
            values["b_next"] = now + retry_delay(row.attempts, retry_base_seconds)
            report.retry += 1
        else:  # 1 (attempts exhausted) and 2
            values["b_state"] = OutboxState.FAILED.value
            failures.append((row, result))
            report.failed += 1
        updates.append(values)
    if updates:
        t = cast(Table, OutboundMessage.__table__)
        session.execute(
            update(t)
            .where(
                t.c.id == bindparam("b_id"),
                t.c.claimed_by == bindparam("b_claimer"),
                t.c.state == OutboxState.SENDING.value,
            )
            .values(
                state=bindparam("b_state"),
                last_smtp_code=bindparam("b_code"),
                last_smtp_reply=bindparam("b_reply"),
                sent_at=bindparam("b_sent_at"),
                next_attempt_at=bindparam("b_next"),
                lease_until=None,
                updated_at=now,
            ),
            updates,
        )
    for row, result in failures:
        audit.record(
            session,
            actor=ACTOR,
            entity="outbound_message",
            entity_id=row.id,
            action="send_failed",
            campaign_id=row.campaign_id,
            from_state=OutboxState.SENDING.value,
            to_state=OutboxState.FAILED.value,
            detail={"code": result.code, "reply": result.reply[:500], "attempts": row.attempts},
        )
        if result.code == 550 and row.kind in CONTACT_KINDS and row.contact_id is not None:  # 3
            bounce_contact(session, row, result, now=now)
            report.bounced_contacts.append(row.contact_id)
    return report


def bounce_contact(session: Session, row: Claimed, result: SendResult, *, now: datetime) -> None:
    """The relay refused the address for good: no further mail goes to it."""
    contact = session.get(Contact, row.contact_id)
    if contact is None:
        return
    contact.address_state = "bounced"
    contact.updated_at = now
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    session.execute(
        insert(Suppression)
        .values(email=contact.email.lower(), reason="bounced", campaign_id=row.campaign_id)
        .on_conflict_do_nothing()
    )
    if row.invitation_id is not None:
        invitation = session.get(Invitation, row.invitation_id)
        if invitation is not None and InvitationState.BOUNCED in INVITATION_TRANSITIONS.get(
            InvitationState(invitation.state), frozenset()
        ):
            audit.move(
                session,
                invitation,
                INVITATION_TRANSITIONS,
                InvitationState.BOUNCED,
                actor=ACTOR,
                action="smtp_rejected",
                detail={"outbox_id": row.id, "reply": result.reply[:500]},
            )


def send_batch(
    session_factory: Any,
    ids: Sequence[int],
    *,
    sender: Sender,
    limiter: RateLimiter | None,
    lease: timedelta,
    max_attempts: int,
    retry_base_seconds: float,
    claimer: str | None = None,
    clock: Any = None,
) -> SendReport:
    """Claim, send and record one batch of outbox rows. Safe to run twice on the same ids."""
    now_fn = clock or utcnow
    claimer = claimer or worker_name()
    # 1. Claim (and drop rows whose recipient was suppressed since queueing) in one transaction.
    with session_factory() as session, session.begin():
        suppressed = suppress_rows(session, ids, now_fn())
        claimed = claim(session, ids, now=now_fn(), claimer=claimer, lease=lease)
    if not claimed:
        return SendReport(suppressed=suppressed)
    report = send_claimed(
        session_factory,
        claimed,
        sender=sender,
        limiter=limiter,
        claimer=claimer,
        max_attempts=max_attempts,
        retry_base_seconds=retry_base_seconds,
        clock=now_fn,
    )
    report.suppressed = suppressed
    return report


def send_claimed(
    session_factory: Any,
    claimed: Sequence[Claimed],
    *,
    sender: Sender,
    limiter: RateLimiter | None,
    claimer: str,
    max_attempts: int,
    retry_base_seconds: float,
    clock: Any = None,
) -> SendReport:
    """Send rows this worker holds under its lease, then record every answer (one transaction)."""
    if not claimed:
        return SendReport()
    now_fn = clock or utcnow
    # 1. Send, paced by the relay's shared rate limit.
    delays = None
    if limiter is not None:
        reservation = limiter.reserve(len(claimed))
        delays = [reservation.delay(i) for i in range(len(claimed))]
    envelopes = [
        Envelope(row.envelope_from, list(row.recipients), row.raw, row.message_id)
        for row in claimed
    ]
    results = sender.send_many(envelopes, delays)
    # 2. Record every answer in one transaction (only where the claim is still ours).
    with session_factory() as session, session.begin():
        return record_results(
            session,
            claimed,
            results,
            now=now_fn(),
            claimer=claimer,
            max_attempts=max_attempts,
            retry_base_seconds=retry_base_seconds,
        )


# ---------------------------------------------------------------------------------------------
# Recovery and manual retry


def due_for_redrive(
    session: Session, *, now: datetime, lease: timedelta, max_attempts: int, limit: int = 10_000
) -> list[int]:
    """Rows that need an "outbox.send" again; crashed final letters are held for a person.

    0. retry rows whose time has come (a failure never enqueues a countdown task).
    1. queued rows older than one lease: their task was lost (broker restart, crash before
       publish); and rows queued with a later `not_before` once that time has come.
    2. sending rows whose lease expired: the worker died mid-send. Final letters go to `held`,
       rows that used up their attempts to `failed`; the rest are sent again (same Message-ID).
    """
    t = OutboundMessage
    stale = now - lease
    expired = session.scalars(
        select(t)
        .where(t.state == OutboxState.SENDING.value, t.lease_until < now)
        .with_for_update(skip_locked=True)
        .limit(limit)
    ).all()
    for row in expired:
        if row.kind in NEVER_RESEND_KINDS:
            audit.move(
                session,
                row,
                OUTBOX_TRANSITIONS,
                OutboxState.HELD,
                actor="scan",
                action="lease_expired_held",
                detail={"claimed_by": row.claimed_by, "attempts": row.attempts},
            )
            row.lease_until = None
        elif row.attempts >= max_attempts:
            audit.move(
                session,
                row,
                OUTBOX_TRANSITIONS,
                OutboxState.FAILED,
                actor="scan",
                action="attempts_exhausted",
                detail={"claimed_by": row.claimed_by, "attempts": row.attempts},
            )
            row.lease_until = None
    ids = [r.id for r in expired if r.state == OutboxState.SENDING.value]
    ids += session.scalars(
        select(t.id)
        .where(
            t.campaign_id.not_in(_paused_campaigns()),
            or_(
                (t.state == OutboxState.RETRY.value) & (t.next_attempt_at <= now),  # 0
                (t.state == OutboxState.QUEUED.value)  # 1
                & (t.next_attempt_at <= now)
                & ((t.updated_at <= stale) | (t.next_attempt_at > t.created_at)),
            ),
        )
        .order_by(t.id)
        .limit(limit)
    ).all()
    return ids


def retry_failed(session: Session, outbox_id: int, *, actor: str, now: datetime) -> OutboundMessage:
    """`outreach outbox retry ID`: a failed row goes back to the queue with fresh attempts."""
    from worker.errors import NotFound, UserError

    row = session.get(OutboundMessage, outbox_id)
    if row is None:
        raise NotFound(f"no outbox message {outbox_id}; see `outreach outbox list`")
    if row.state != OutboxState.FAILED.value:
        raise UserError(
            f"outbox message {outbox_id} is {row.state}, not failed; only failed messages can be "
            "retried (queued and retry ones go out by themselves)"
        )
    blocked = suppressed_addresses(session, row.recipients)
    if blocked:
        raise UserError(
            f"outbox message {outbox_id} goes to {', '.join(sorted(blocked))}, which is on the "
            "suppression list (bounced or unsubscribed); fix the contact's address instead"
        )
    audit.move(
        session,
        row,
        OUTBOX_TRANSITIONS,
        OutboxState.QUEUED,
        actor=actor,
        action="manual_retry",
        detail={"previous_reply": row.last_smtp_reply},
    )
    row.attempts = 0
    row.next_attempt_at = now
    row.updated_at = now
    row.lease_until = None
    publish_after_commit(session, [row.id])
    return row

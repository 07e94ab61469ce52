"""The outbox: queue an email as a row, claim rows under a lease, send them, record the answer.

Every email is a row (with its final Message-ID and bytes) before any SMTP call. Duplicates are
prevented by the data: a unique dedupe key on insert, and a conditional UPDATE to claim.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from worker.actions import audit

# Claiming, leases, recording and sending live in their own modules; their names stay
# importable from here, the outbox's front door.
from worker.actions.claim import (
    ACTOR,
    NEVER_RESEND_KINDS,
    Claimed,
    SendReport,
    claim,
    due_for_redrive,
    suppress_rows,
    suppressed_addresses,
    worker_name,
)
from worker.actions.publisher import get_publisher
from worker.actions.record import CONTACT_KINDS, bounce_contact, record_result
from worker.actions.send_outbox import send_batch, send_claimed
from worker.actions.suppression import normalise
from worker.core.audit_actions import AuditAction
from worker.core.states import OUTBOX_TRANSITIONS, OutboxState
from worker.models import OutboundMessage, utcnow

__all__ = [
    "ACTOR",
    "CONTACT_KINDS",
    "NEVER_RESEND_KINDS",
    "ClaimAs",
    "Claimed",
    "QueueItem",
    "SendReport",
    "bounce_contact",
    "claim",
    "due_for_redrive",
    "make_dedupe_key",
    "publish",
    "publish_after_commit",
    "queue_claimed",
    "queue_email",
    "queue_email_rows",
    "queue_emails",
    "record_result",
    "retry_failed",
    "send_batch",
    "send_claimed",
    "suppress_rows",
    "suppressed_addresses",
    "worker_name",
]

log = logging.getLogger(__name__)
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
    @property
    def texts(self) -> Sequence[str] | None: ...


def make_dedupe_key(campaign_id: int, contact_id: int | None, kind: str, sequence: int) -> str:
    return f"{campaign_id}:{contact_id if contact_id is not None else '-'}:{kind}:{sequence}"


# ---------------------------------------------------------------------------------------------
# Queueing


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


def queue_email_rows(
    session: Session, items: Sequence[QueueItem], *, not_suppressed: Collection[str] = ()
) -> list[tuple[int | None, str]]:
    """`queue_emails` without reading the rows back: per item (its new id, or None when its
    dedupe key already existed; the state it was created in).

    `not_suppressed`: addresses the caller found off the suppression list in this same
    transaction; when they cover every recipient, the list is not asked again.
    """
    checked = {normalise(a) for a in not_suppressed}
    known_clear = all(normalise(a) in checked for i in items for a in i.prepared.recipients)
    return _queue(session, items, None, set() if known_clear else None)


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
        for item, (new_id, state) in zip(items, queued, strict=True)
        if new_id is not None and state == OutboxState.SENDING.value
    ]
    return [new_id for new_id, _ in queued], claimed


def _queue(
    session: Session,
    items: Sequence[QueueItem],
    claim: ClaimAs | None,
    suppressed: set[str] | None = None,
) -> list[tuple[int | None, str]]:
    """Insert the rows; per item (its new id or None, the state it was created in).
    `suppressed`: the recipients on the suppression list, when the caller already knows."""
    if not items:
        return []
    now = utcnow()
    if suppressed is None:
        suppressed = suppressed_addresses(
            session, [a for item in items for a in item.prepared.recipients]
        )
    table = OutboundMessage.__table__
    rows = [_row_values(item, now, suppressed, claim) for item in items]
    by_key = _insert_ignoring_duplicates(session, table, rows)
    result: list[tuple[int | None, str]] = []
    blocked_entries: list[dict[str, Any]] = []
    for item, row in zip(items, rows, strict=True):
        new_id = by_key.pop(item.key, None)  # pop: a key given twice is queued once
        result.append((new_id, row["state"]))
        if new_id is None or not suppressed:
            continue
        blocked = sorted(a.lower() for a in item.prepared.recipients if a.lower() in suppressed)
        if blocked:
            blocked_entries.append(
                {
                    "actor": ACTOR,
                    "entity": "outbound_message",
                    "entity_id": new_id,
                    "action": AuditAction.SUPPRESSED,
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
        "texts": list(prepared.texts) if prepared.texts is not None else None,
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
# Manual retry


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
        action=AuditAction.MANUAL_RETRY,
        detail={"previous_reply": row.last_smtp_reply},
    )
    row.attempts = 0
    row.next_attempt_at = now
    row.updated_at = now
    row.lease_until = None
    publish_after_commit(session, [row.id])
    return row

"""Store one received message, raw, before anything else happens to it; duplicates are noticed."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import insert, or_, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from worker.actions import audit
from worker.actions.review import open_review
from worker.core.audit_actions import AuditAction
from worker.core.decode import parse_headers
from worker.core.states import InboundState
from worker.core.untrusted import db_text
from worker.models import InboundMessage

log = structlog.get_logger(__name__)

_MAX_SUBJECT = 2000
_TABLE: Any = InboundMessage.__table__
_INSERT = insert(_TABLE).returning(_TABLE.c.id)  # Core: storing runs for every message
# Several rows, their ids returned in the order given (ingest_many pairs them up).
_INSERT_MANY = insert(_TABLE).returning(_TABLE.c.id, sort_by_parameter_order=True)


def ingest(
    session: Session,
    raw: bytes,
    *,
    source: str,
    now: datetime,
    mailbox: str | None = None,
    uidvalidity: int | None = None,
    uid: int | None = None,
) -> int | None:
    """Store `raw` and return the new InboundMessage id, or None when it is a duplicate.

    1. The same bytes already stored -> None, nothing written.
    2. Headers are read for display and dedupe, every text value cleaned of what a database
       refuses (NUL, lone surrogates); a message whose headers cannot be read is still stored
       (processing sends it to review).
    3. The same Message-ID already stored with other bytes (the same reply delivered through
       another path, with other trace headers) -> stored as `duplicate` for the record, None.
    4. If the row still cannot be written, the raw bytes alone are stored in quarantine
       (state review, the reason in `error`, a review item opened), so intake moves on: the
       LMTP answer is 250 and the IMAP cursor advances. Only a database that refuses even
       that raises (then the MTA retries, the poller stops at this UID).
    The caller commits; nothing here talks to the network.
    """
    digest, clean = _read(raw)
    # 1. and 3. in one query: the same bytes, or else the earliest row with this Message-ID.
    message_id = clean.get("message_id")
    same = InboundMessage.sha256 == digest
    earlier_rows = (
        select(InboundMessage.id, InboundMessage.sha256)
        .where(or_(same, InboundMessage.message_id == message_id) if message_id else same)
        .order_by(InboundMessage.id)
    )
    found = session.connection().execute(earlier_rows).all()  # Core, as the INSERTs below
    if any(sha == digest for _, sha in found):
        return None
    earlier = found[0][0] if found else None
    row_args = _row_args(raw, digest, source, now)
    row_args.update(mailbox=mailbox, uidvalidity=uidvalidity, uid=uid)
    if session.get_bind().dialect.name == "sqlite":
        # SQLite stores any text, and pysqlite's SAVEPOINT handling is unreliable.
        return _store_row(session, row_args, clean, earlier)
    try:
        with session.begin_nested():
            return _store_row(session, row_args, clean, earlier)
    except DBAPIError as exc:
        # 4.
        return _quarantine(session, row_args, f"{type(exc.orig).__name__}: {exc.orig}")


def ingest_many(
    session: Session,
    raws: Sequence[bytes],
    *,
    source: str,
    now: datetime,
    mailbox: str | None = None,
    uidvalidity: int | None = None,
    uids: Sequence[int | None] | None = None,
) -> list[int | None]:
    """`ingest` for several messages in one transaction (the LMTP listener's group commit,
    the IMAP poller's fetch chunk, each message with its `uids` entry): the new id or None for
    each, in order; one SELECT and two INSERTs for the lot.

    A group in which the same bytes or the same Message-ID come twice goes through `ingest`
    one by one (the second must see the first). No savepoint here: if a row is refused, the
    whole transaction fails, and the caller stores each message on its own with `ingest`,
    which quarantines the one refused (`worker.mail.lmtp`, `worker.mail.inbox`).
    """
    origins = list(uids) if uids is not None else [None] * len(raws)
    if len(origins) != len(raws):
        raise ValueError(f"ingest_many: {len(raws)} messages but {len(origins)} uids")
    read = [_read(raw) for raw in raws]
    digests = [digest for digest, _ in read]
    named = [m for _, fields in read if (m := fields.get("message_id"))]
    if len(set(digests)) < len(digests) or len(set(named)) < len(named):
        return [
            ingest(session, raw, source=source, now=now, mailbox=mailbox,
                   uidvalidity=uidvalidity, uid=uid)
            for raw, uid in zip(raws, origins, strict=True)
        ]  # fmt: skip
    wanted = InboundMessage.sha256.in_(digests)
    conn = session.connection()
    found = conn.execute(
        select(InboundMessage.id, InboundMessage.sha256, InboundMessage.message_id)
        .where(or_(wanted, InboundMessage.message_id.in_(named)) if named else wanted)
        .order_by(InboundMessage.id)
    ).all()
    known = {sha for _, sha, _ in found}
    first_with: dict[str, int] = {}
    for row_id, _, message_id in found:
        if message_id is not None:
            first_with.setdefault(message_id, row_id)
    new: list[tuple[dict[str, Any], int | None]] = []  # (row, the earlier copy's id)
    for raw, (digest, fields), uid in zip(raws, read, origins, strict=True):
        if digest not in known:
            earlier = first_with.get(fields.get("message_id") or "")
            row_args = _row_args(raw, digest, source, now)
            row_args.update(mailbox=mailbox, uidvalidity=uidvalidity, uid=uid)
            new.append((_values(row_args, fields, earlier), earlier))
    if not new:
        return [None] * len(raws)
    new_ids = conn.execute(_INSERT_MANY, [values for values, _ in new]).scalars().all()
    entries: list[dict[str, Any]] = []
    answers: dict[str, int | None] = {}
    for (values, earlier), new_id in zip(new, new_ids, strict=True):
        entries.append(_stored_entry(values, new_id, earlier))
        answers[values["sha256"]] = int(new_id) if earlier is None else None
    audit.record_many(conn, entries)
    return [answers.get(digest) for digest in digests]


def _read(raw: bytes) -> tuple[str, dict[str, str | None]]:
    """The digest, and the header fields stored for display and dedupe, each cleaned of what
    a database refuses; unreadable headers give `error` instead (the message is kept)."""
    digest = hashlib.sha256(raw).hexdigest()
    fields: dict[str, str | None] = {}
    try:
        headers = parse_headers(raw)
        fields["message_id"] = headers.message_id[:998] if headers.message_id else None
        fields["from_addr"] = headers.from_address[:320] if headers.from_address else None
        fields["subject"] = headers.subject[:_MAX_SUBJECT]
        fields["auth_results"] = "\n".join(headers.authentication_results) or None
    except Exception as exc:  # stored anyway: never drop what we were sent
        fields = {"error": f"headers unreadable: {type(exc).__name__}: {exc}"}
    return digest, {k: db_text(v) if v is not None else None for k, v in fields.items()}


def _row_args(raw: bytes, digest: str, source: str, now: datetime) -> dict[str, Any]:
    return {
        "sha256": digest, "raw": raw, "source": source,
        "mailbox": None, "uidvalidity": None, "uid": None, "received_at": now,
    }  # fmt: skip


def _values(
    row_args: dict[str, Any], fields: dict[str, str | None], earlier: int | None
) -> dict[str, Any]:
    """The inbound_message row: `stored`, or `duplicate` of an earlier row (3.)."""
    values: dict[str, Any] = {
        "message_id": None, "from_addr": None, "subject": None, "auth_results": None,
        "error": None, **row_args, **fields, "state": InboundState.STORED.value,
    }  # fmt: skip
    if earlier is not None:
        values["state"] = InboundState.DUPLICATE.value
        values["error"] = f"duplicate of inbound message {earlier} (same Message-ID)"
    return values


def _stored_entry(values: dict[str, Any], new_id: int, earlier: int | None) -> dict[str, Any]:
    return {
        "actor": f"intake:{values['source']}",
        "entity": "inbound_message",
        "entity_id": new_id,
        "action": AuditAction.STORED if earlier is None else AuditAction.STORED_DUPLICATE,
        "to_state": values["state"],
        "detail": {"message_id": values["message_id"], "from": values["from_addr"],
                   "uid": values["uid"]},
    }  # fmt: skip


def _store_row(
    session: Session, row_args: dict[str, Any], fields: dict[str, str | None], earlier: int | None
) -> int | None:
    """Two Core INSERTs (the row, its audit entry): storing is on every message's path, and
    the ORM's unit of work cost more than the statements themselves."""
    values = _values(row_args, fields, earlier)
    conn = session.connection()
    new_id = conn.execute(_INSERT, values).scalar_one()
    audit.record_many(conn, [_stored_entry(values, new_id, earlier)])
    return None if earlier is not None else int(new_id)


def _quarantine(session: Session, row_args: dict[str, Any], reason: str) -> int:
    """The raw bytes alone, in review with the reason: kept, shown to a person, never acted on."""
    why = db_text(f"quarantined: the message could not be stored ({reason})")[:4000]
    row = InboundMessage(**row_args, state=InboundState.REVIEW.value, error=why)
    session.add(row)
    session.flush()
    open_review(session, row, None, None, why)
    log.warning("intake.quarantined", inbound_id=row.id, reason=reason[:200])
    return row.id

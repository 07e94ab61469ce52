"""Store one received message, raw, before anything else happens to it; duplicates are noticed."""

from __future__ import annotations

import hashlib
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
    digest = hashlib.sha256(raw).hexdigest()
    # 2.
    fields: dict[str, str | None] = {}
    try:
        headers = parse_headers(raw)
        fields["message_id"] = headers.message_id[:998] if headers.message_id else None
        fields["from_addr"] = headers.from_address[:320] if headers.from_address else None
        fields["subject"] = headers.subject[:_MAX_SUBJECT]
        fields["auth_results"] = "\n".join(headers.authentication_results) or None
    except Exception as exc:  # stored anyway: never drop what we were sent
        fields = {"error": f"headers unreadable: {type(exc).__name__}: {exc}"}
    clean = {k: db_text(v) if v is not None else None for k, v in fields.items()}
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
    row_args: dict[str, Any] = {
        "sha256": digest,
        "raw": raw,
        "source": source,
        "mailbox": mailbox,
        "uidvalidity": uidvalidity,
        "uid": uid,
        "received_at": now,
    }
    if session.get_bind().dialect.name == "sqlite":
        # SQLite stores any text, and pysqlite's SAVEPOINT handling is unreliable.
        return _store_row(session, row_args, clean, earlier)
    try:
        with session.begin_nested():
            return _store_row(session, row_args, clean, earlier)
    except DBAPIError as exc:
        # 4.
        return _quarantine(session, row_args, f"{type(exc.orig).__name__}: {exc.orig}")


def _store_row(
    session: Session, row_args: dict[str, Any], fields: dict[str, str | None], earlier: int | None
) -> int | None:
    """Two Core INSERTs (the row, its audit entry): storing is on every message's path, and
    the ORM's unit of work cost more than the statements themselves."""
    message_id = fields.get("message_id")
    values: dict[str, Any] = {
        "message_id": None, "from_addr": None, "subject": None, "auth_results": None,
        "error": None, **row_args, **fields, "state": InboundState.STORED.value,
    }  # fmt: skip
    # 3.
    if earlier is not None:
        values["state"] = InboundState.DUPLICATE.value
        values["error"] = f"duplicate of inbound message {earlier} (same Message-ID)"
    conn = session.connection()
    new_id = conn.execute(_INSERT, values).scalar_one()
    audit.record_many(
        conn,
        [
            {
                "actor": f"intake:{row_args['source']}",
                "entity": "inbound_message",
                "entity_id": new_id,
                "action": AuditAction.STORED if earlier is None else AuditAction.STORED_DUPLICATE,
                "to_state": values["state"],
                "detail": {"message_id": message_id, "from": fields.get("from_addr"),
                           "uid": row_args["uid"]},
            }
        ],
    )  # fmt: skip
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

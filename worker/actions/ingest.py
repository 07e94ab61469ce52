"""Store one received message, raw, before anything else happens to it; duplicates are noticed."""

from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from worker.actions import audit
from worker.core.decode import parse_headers
from worker.core.states import InboundState
from worker.models import InboundMessage

_MAX_SUBJECT = 2000


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
    2. Headers are read for display and dedupe; a message whose headers cannot be read is
       still stored (processing sends it to review).
    3. The same Message-ID already stored with other bytes (the same reply delivered through
       another path, with other trace headers) -> stored as `duplicate` for the record, None.
    The caller commits; nothing here talks to the network.
    """
    digest = hashlib.sha256(raw).hexdigest()
    # 1.
    if session.scalar(select(InboundMessage.id).where(InboundMessage.sha256 == digest)):
        return None
    # 2.
    message_id: str | None = None
    from_addr: str | None = None
    subject: str | None = None
    auth: str | None = None
    error: str | None = None
    try:
        headers = parse_headers(raw)
        message_id = headers.message_id[:998] if headers.message_id else None
        from_addr = headers.from_address[:320] if headers.from_address else None
        subject = headers.subject[:_MAX_SUBJECT]
        auth = "\n".join(headers.authentication_results) or None
    except Exception as exc:  # stored anyway: never drop what we were sent
        error = f"headers unreadable: {type(exc).__name__}: {exc}"
    row = InboundMessage(
        sha256=digest,
        message_id=message_id,
        raw=raw,
        source=source,
        mailbox=mailbox,
        uidvalidity=uidvalidity,
        uid=uid,
        received_at=now,
        from_addr=from_addr,
        subject=subject,
        auth_results=auth,
        error=error,
        state=InboundState.STORED.value,
    )
    # 3.
    earlier = None
    if message_id:
        earlier = session.scalar(
            select(InboundMessage.id)
            .where(InboundMessage.message_id == message_id)
            .order_by(InboundMessage.id)
            .limit(1)
        )
    if earlier is not None:
        row.state = InboundState.DUPLICATE.value
        row.error = f"duplicate of inbound message {earlier} (same Message-ID)"
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor=f"intake:{source}",
        entity="inbound_message",
        entity_id=row.id,
        action="stored" if earlier is None else "stored-duplicate",
        to_state=row.state,
        detail={"message_id": message_id, "from": from_addr, "uid": uid},
    )
    return None if earlier is not None else row.id

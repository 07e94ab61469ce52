"""Storing received mail: the same bytes are stored once; the same Message-ID with other bytes
is kept as a duplicate of the earliest copy (one lookup answers both questions)."""

from __future__ import annotations

from email.message import EmailMessage

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from worker.actions.ingest import ingest
from worker.core.states import InboundState
from worker.models import AuditLog, InboundMessage

from .conftest import NOW


def _mail(trace: str) -> bytes:
    msg = EmailMessage()
    msg["Received"] = f"from {trace} by mx.hrn.example"
    msg["From"] = "info@green.example"
    msg["To"] = "signon@hrn.example"
    msg["Subject"] = "Re: the letter"
    msg["Message-ID"] = "<same-reply@green.example>"
    msg.set_content("We sign.")
    return msg.as_bytes()


def test_same_bytes_once_and_same_message_id_kept_as_duplicate_of_the_first(
    session: Session, env: dict[str, str]
) -> None:
    first = ingest(session, _mail("relay-a"), source="test", now=NOW)
    session.commit()
    assert first is not None
    assert ingest(session, _mail("relay-a"), source="test", now=NOW) is None  # the same bytes
    session.commit()
    assert session.scalar(select(func.count(InboundMessage.id))) == 1

    for relay in ("relay-b", "relay-c"):  # the same reply through other paths
        assert ingest(session, _mail(relay), source="test", now=NOW) is None
        session.commit()

    rows = session.scalars(select(InboundMessage).order_by(InboundMessage.id)).all()
    assert [r.state for r in rows] == [
        InboundState.STORED.value,
        InboundState.DUPLICATE.value,
        InboundState.DUPLICATE.value,
    ]
    assert {r.error for r in rows[1:]} == {
        f"duplicate of inbound message {first} (same Message-ID)"
    }
    actions = session.scalars(
        select(AuditLog.action).where(AuditLog.entity == "inbound_message").order_by(AuditLog.id)
    ).all()
    assert actions == ["stored", "stored-duplicate", "stored-duplicate"]

"""The hot queries of a beat tick, the outbox and intake are served by indexes on PostgreSQL.

Planned with sequential scans switched off: the planner then still falls back to a Seq Scan
when no index can serve the query, so a Seq Scan on a big table in a plan means the index
the query needs is missing (the timings at 100k and 1M rows are in bench/scan.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, select, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session
from support.bulk import bulk_campaign

from worker.actions import due
from worker.actions.claim import due_for_redrive
from worker.actions.scan import campaign_plan
from worker.models import Campaign, Contact, Invitation, OutboundMessage

pytestmark = pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
BIG_TABLES = ("invitation", "outbound_message", "contact", "organisation")


def _plan(session: Session, stmt: Any) -> str:
    sql = str(stmt.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))
    session.execute(text("SET LOCAL enable_seqscan = off"))
    return "\n".join(r[0] for r in session.execute(text("EXPLAIN " + sql)))


def _unbounded_scans(plan: str, tables: tuple[str, ...] = BIG_TABLES) -> list[str]:
    """Scans of a big table that read all of it: a Seq Scan, or an index scan without a
    condition on the index (a full walk of the index)."""
    lines = [line.strip() for line in plan.splitlines()]
    found = []
    for i, line in enumerate(lines):
        table = next((t for t in tables if f" on {t} " in line + " "), None)
        if table is None or "Scan" not in line:
            continue
        bounded = any(
            # a Bitmap Heap Scan rechecks what its Bitmap Index Scan (an Index Cond) found
            lines[j].startswith(("Index Cond", "Recheck Cond"))
            for j in range(i + 1, min(i + 3, len(lines)))
        )
        if "Seq Scan" in line or not bounded:
            found.append(line)
    return found


@contextmanager
def _selects(session: Session) -> Iterator[list[tuple[str, Any]]]:
    """The SELECTs the code under test runs on this session's engine, with their parameters."""
    captured: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, params: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            captured.append((statement, params))

    engine = session.get_bind()
    event.listen(engine, "before_cursor_execute", capture)
    try:
        yield captured
    finally:
        event.remove(engine, "before_cursor_execute", capture)


def _assert_indexed(
    session: Session,
    captured: list[tuple[str, Any]],
    tables: tuple[str, ...] = BIG_TABLES,
    allowed: str = "",
) -> None:
    """Each captured query, planned as it ran, reads no big table whole (`allowed`: an index
    whose scan needs no condition, a partial index that holds only the rows wanted)."""
    for sql, params in captured:
        session.execute(text("SET LOCAL enable_seqscan = off"))
        rows = session.connection().exec_driver_sql("EXPLAIN " + sql, params)
        plan_text = "\n".join(r[0] for r in rows)
        scans = [
            line
            for line in _unbounded_scans(plan_text, tables)
            if not allowed or allowed not in line
        ]
        assert scans == [], f"{sql}\n{plan_text}"
        session.rollback()


def test_the_due_scan_redrive_and_intake_lookups_use_indexes(session: Session) -> None:
    now = datetime.now(UTC)
    cid = bulk_campaign(session, 3000, slug="explain", now=now)
    # The common tick: every invitation sent and reminded once, the first reminder's time
    # passed, nothing due (the second reminder is a day before the deadline).
    session.execute(text("UPDATE invitation SET reminders_sent = 1"))
    session.commit()
    session.execute(text("ANALYZE"))
    campaign = session.get(Campaign, cid)
    assert campaign is not None
    plan = campaign_plan(campaign)
    later = now + timedelta(days=8)  # the first reminder's time has come: both kinds planned
    conditions = due._candidates(plan, later)
    assert len(conditions) == 2
    statements: dict[str, Any] = {
        f"candidates {i}": due.candidate_query(cid, c, later, 0, 1000)
        for i, c in enumerate(conditions)
    }
    statements["outstanding"] = select(Invitation.id).where(Invitation.dispatch_until > now)
    statements["contact by email"] = select(Contact.id).where(Contact.email == "x@y.example")
    statements["outbox by invitation"] = select(OutboundMessage.raw).where(
        OutboundMessage.invitation_id == 42
    )
    for name, stmt in statements.items():
        plan_text = _plan(session, stmt)
        assert _unbounded_scans(plan_text) == [], f"{name}:\n{plan_text}"
        if name.startswith("candidates"):
            assert "ix_invitation_due" in plan_text, plan_text
    session.rollback()
    # The redrive's queries, as they run (captured from the session's own execution).
    with _selects(session) as captured:
        due_for_redrive(session, now=now, lease=timedelta(seconds=20))
    session.rollback()
    assert len(captured) >= 2
    _assert_indexed(session, captured)


INTAKE_TABLES = (*BIG_TABLES, "inbound_message", "signature", "suppression", "audit_log")


def test_every_query_of_an_intake_batch_uses_an_index(session: Session) -> None:
    """Replies to a 3,000-invitation campaign (its invitations sent) beside 3,000 older
    processed messages, stored
    and processed as the intake task does (a batch that takes the waiting ones along): each
    SELECT it runs is planned on an index (the stored ones: the partial ix_inbound_stored)."""
    from email.message import EmailMessage

    from sqlalchemy import insert, update

    from worker.actions.ingest import ingest
    from worker.actions.intake import process_batch
    from worker.core.tokens import make_token
    from worker.models import InboundMessage
    from worker.settings import get_settings

    now = datetime.now(UTC)
    cid = bulk_campaign(session, 3000, slug="explain-intake", now=now)
    session.execute(
        insert(InboundMessage),
        [
            {"sha256": f"{i:064x}", "raw": b"x", "source": "old", "state": "processed",
             "received_at": now - timedelta(days=1)}
            for i in range(3000)
        ],
    )  # fmt: skip
    session.execute(
        insert(OutboundMessage),
        [
            {"campaign_id": cid, "contact_id": contact_id, "invitation_id": inv_id,
             "kind": "invitation", "dedupe_key": f"{cid}:{contact_id}:invitation:0",
             "message_id": f"<invitation.0.{inv_id}@hrn.example>", "envelope_from": "b@x",
             "raw": b"x", "state": "sent"}
            for inv_id, contact_id in session.execute(
                select(Invitation.id, Invitation.contact_id).where(Invitation.campaign_id == cid)
            ).all()
        ],
    )  # fmt: skip
    secret = get_settings().secret()
    emails = session.execute(
        select(Invitation.id, Contact.email)
        .join(Contact, Contact.id == Invitation.contact_id)
        .where(Invitation.campaign_id == cid)
        .order_by(Invitation.id)
        .limit(5)
    ).all()
    ids = []
    for inv_id, email in emails:
        token = make_token(secret, "explain-intake", email)
        session.execute(update(Invitation).where(Invitation.id == inv_id).values(token=token))
        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"] = email, f"signon+{token}@hrn.example", "Re: letter"
        msg["Message-ID"] = f"<{inv_id}@{email.split('@')[1]}>"
        msg.set_content("We sign.")
        ids.append(ingest(session, msg.as_bytes(), source="test", now=now))
    session.commit()
    session.execute(text("ANALYZE"))
    session.commit()
    with _selects(session) as captured:
        outcomes = process_batch([ids[0]], now=now, fill=True)
    assert [o.action for o in outcomes] == ["signed"] * 5
    assert len(captured) >= 8
    _assert_indexed(session, captured, INTAKE_TABLES, allowed="ix_inbound_stored")

"""The hot queries of a beat tick, the outbox and intake are served by indexes on PostgreSQL.

Planned with sequential scans switched off: the planner then still falls back to a Seq Scan
when no index can serve the query, so a Seq Scan on a big table in a plan means the index
the query needs is missing (the timings at 100k and 1M rows are in bench/scan.py).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, text
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


def _unbounded_scans(plan: str) -> list[str]:
    """Scans of a big table that read all of it: a Seq Scan, or an index scan without a
    condition on the index (a full walk of the index)."""
    lines = [line.strip() for line in plan.splitlines()]
    found = []
    for i, line in enumerate(lines):
        table = next((t for t in BIG_TABLES if f" on {t} " in line + " "), None)
        if table is None or "Scan" not in line:
            continue
        bounded = any(
            lines[j].startswith("Index Cond") for j in range(i + 1, min(i + 3, len(lines)))
        )
        if "Seq Scan" in line or not bounded:
            found.append(line)
    return found


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
    captured: list[tuple[str, Any]] = []
    from sqlalchemy import event

    def capture(conn: Any, cursor: Any, statement: str, params: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            captured.append((statement, params))

    engine = session.get_bind()
    event.listen(engine, "before_cursor_execute", capture)
    try:
        due_for_redrive(session, now=now, lease=timedelta(seconds=20))
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    session.rollback()
    assert len(captured) >= 2
    for sql, params in captured:
        session.execute(text("SET LOCAL enable_seqscan = off"))
        rows = session.connection().exec_driver_sql("EXPLAIN " + sql, params)
        plan_text = "\n".join(r[0] for r in rows)
        assert _unbounded_scans(plan_text) == [], plan_text
        session.rollback()

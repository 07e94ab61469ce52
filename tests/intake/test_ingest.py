"""Storing received mail: the same bytes are stored once; the same Message-ID with other bytes
is kept as a duplicate of the earliest copy (one lookup answers both questions); a group stored
at once (the LMTP listener's group commit) ends as if stored one by one."""

from __future__ import annotations

from email.message import EmailMessage

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, event, func, select
from sqlalchemy.orm import Session

from worker.actions.ingest import ingest, ingest_many
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


def _stored(session: Session) -> list[tuple[bytes, str, str | None]]:
    """What storing left behind, ids aside: each row's bytes, state and reason, in order, and
    the audit actions (a duplicate names its first copy by its place, not its id)."""
    rows = session.scalars(select(InboundMessage).order_by(InboundMessage.id)).all()
    place = {row.id: n for n, row in enumerate(rows)}
    found = []
    for row in rows:
        error = row.error
        if error and error.startswith("duplicate of inbound message "):
            earlier = int(error.split()[4])
            error = f"duplicate of #{place[earlier]}"
        found.append((row.raw, row.state, error))
    return found


def _variant(n: int, message_id: int | None) -> bytes:
    msg = EmailMessage()
    msg["From"] = "info@green.example"
    msg["To"] = "signon@hrn.example"
    msg["Subject"] = f"Re: the letter ({n})"
    if message_id is not None:
        msg["Message-ID"] = f"<reply-{message_id}@green.example>"
    msg.set_content(f"We sign. {n}")
    return msg.as_bytes()


POOL = [_variant(n, mid) for n, mid in enumerate([1, 1, 2, None, None, 3, 1])] + [
    b"\x00\xff not a message at all",
    b"From: =?utf-8?q?\x00?=\r\nMessage-ID: <nul\x00@x>\r\nSubject: \xff\xfe\r\n\r\nhi\r\n",
]


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    picks=st.lists(st.integers(0, len(POOL) - 1), min_size=1, max_size=14),
    cuts=st.lists(st.integers(1, 5), min_size=1, max_size=6),
)
def test_storing_in_groups_leaves_what_storing_one_by_one_leaves(
    session: Session, env: dict[str, str], picks: list[int], cuts: list[int]
) -> None:
    """Any mix of new mail, repeated bytes, repeated Message-IDs, none, and unreadable headers,
    cut into groups of any size: the same rows, states, reasons and answers as one by one."""
    raws = [POOL[i] for i in picks]

    def clear() -> None:
        session.rollback()
        session.execute(delete(AuditLog))
        session.execute(delete(InboundMessage))
        session.commit()

    clear()
    one_by_one = []
    for raw in raws:
        one_by_one.append(ingest(session, raw, source="test", now=NOW) is not None)
        session.commit()
    expected = _stored(session)
    expected_audit = session.scalars(select(AuditLog.action).order_by(AuditLog.id)).all()
    clear()
    grouped: list[bool] = []
    start, sizes = 0, iter(cuts * len(raws))
    while start < len(raws):
        group = raws[start : start + next(sizes)]
        answers = ingest_many(session, group, source="test", now=NOW)
        session.commit()
        assert len(answers) == len(group)
        grouped += [answer is not None for answer in answers]
        start += len(group)
    assert grouped == one_by_one
    assert _stored(session) == expected
    assert session.scalars(select(AuditLog.action).order_by(AuditLog.id)).all() == expected_audit


def test_a_group_is_stored_with_one_lookup_and_one_insert_per_table(
    session: Session, env: dict[str, str]
) -> None:
    statements: list[str] = []
    engine = session.get_bind()
    listen = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(engine, "before_cursor_execute", listen)
    try:
        ids = ingest_many(session, [_variant(n, 100 + n) for n in range(20)], source="t", now=NOW)
        session.commit()
    finally:
        event.remove(engine, "before_cursor_execute", listen)
    assert all(i is not None for i in ids) and len(set(ids)) == 20
    verbs = [s.split()[0] for s in statements]
    if env["OUTREACH_DATABASE_URL"].startswith("postgresql"):
        assert verbs == ["SELECT", "INSERT", "INSERT"]
    else:  # SQLite returns ids in order only row by row
        assert verbs.count("SELECT") == 1 and set(verbs) == {"SELECT", "INSERT"}
    by_id = {row.id: row.raw for row in session.scalars(select(InboundMessage))}
    assert [by_id[i] for i in ids if i is not None] == [_variant(n, 100 + n) for n in range(20)]

"""The IMAP poller stores each fetched chunk in one transaction (`store_many`), against a real
Dovecot: a burst costs a few commits, and every guarantee of the one-at-a-time path holds:
each message stored once, the cursor past what was kept, a refused row quarantined alone, a
failed or killed chunk neither lost nor stored twice. (Two polls at once, in chunks too:
test_mailbox.py.)"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from sqlalchemy import event, select, text
from sqlalchemy.orm import Session, sessionmaker
from support.dovecot import Dovecot

from worker.actions.ingest import ingest, ingest_many
from worker.db import get_engine
from worker.mail import inbox
from worker.mail.inbox import PollResult, mailbox_key, poll_mailbox
from worker.models import InboundMessage, MailboxCursor, ReviewItem

from .conftest import NOW, append_to, imap_target

# Row locks and a refused row's quarantine (a savepoint) are PostgreSQL's: SQLite runs one
# writer at a time and stores any text.
on_postgres = pytest.mark.parametrize(
    "db_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)


def _note(n: int, subject: str | None = None) -> bytes:
    return (
        f"From: n{n}@ngo{n}.example\r\nTo: signon@hrn.example\r\n"
        f"Subject: {subject or f'note {n}'}\r\nMessage-ID: <note{n}@ngo{n}.example>\r\n\r\n"
        f"hello {n}\r\n"
    ).encode()


def _poll(dovecot: Dovecot, sessions: sessionmaker[Session], **kwargs: Any) -> PollResult:
    return poll_mailbox(
        imap_target(dovecot), sessions, store=ingest, store_many=ingest_many,
        clock=lambda: NOW, **kwargs,
    )  # fmt: skip


def _stored_uids(session: Session) -> list[int | None]:
    session.rollback()
    return [m.uid for m in session.scalars(select(InboundMessage).order_by(InboundMessage.id))]


def _cursor(session: Session, dovecot: Dovecot) -> int:
    session.rollback()
    cursor = session.get(MailboxCursor, mailbox_key(imap_target(dovecot)))
    assert cursor is not None
    return cursor.last_uid


@pytest.fixture
def commits(env: dict[str, str]) -> Iterator[list[int]]:
    """Commits on the test database's engine while the test runs."""
    engine = get_engine(env["OUTREACH_DATABASE_URL"])
    seen: list[int] = []

    def count(*_: object) -> None:
        seen.append(1)

    event.listen(engine, "commit", count)
    try:
        yield seen
    finally:
        event.remove(engine, "commit", count)


def test_a_burst_is_stored_once_each_in_one_transaction_per_fetched_chunk(
    session: Session, dovecot: Dovecot, sessions: sessionmaker[Session], commits: list[int]
) -> None:
    n = 2 * inbox.FETCH_BATCH + 10  # three chunks
    append_to(dovecot, *(_note(i) for i in range(n)))
    handed_on: list[list[int]] = []
    result = _poll(dovecot, sessions, on_stored=handed_on.append)
    assert (result.seen, len(result.stored), result.duplicates, result.last_uid) == (n, n, 0, n)
    assert len(commits) == 1 + 3  # the cursor's first row, then one per chunk (not one each)
    assert _stored_uids(session) == list(range(1, n + 1))
    rows = session.scalars(select(InboundMessage).order_by(InboundMessage.id)).all()
    assert {(r.mailbox, r.uidvalidity, r.state) for r in rows} == {
        (mailbox_key(imap_target(dovecot)), result.uidvalidity, "stored")
    }
    assert [len(ids) for ids in handed_on] == [inbox.FETCH_BATCH, inbox.FETCH_BATCH, 10]
    assert sorted(i for ids in handed_on for i in ids) == [r.id for r in rows]
    assert _cursor(session, dovecot) == n
    again = _poll(dovecot, sessions)
    assert (again.seen, again.stored) == (0, [])


def test_a_message_already_stored_and_a_copy_in_the_same_chunk_are_not_stored_again(
    session: Session, dovecot: Dovecot, sessions: sessionmaker[Session]
) -> None:
    append_to(dovecot, _note(0))
    assert len(_poll(dovecot, sessions).stored) == 1
    with sessions.begin() as s:  # the folder re-read from the start (as after a UIDVALIDITY)
        cursor = s.get(MailboxCursor, mailbox_key(imap_target(dovecot)))
        assert cursor is not None
        cursor.last_uid = 0
    append_to(dovecot, _note(1), _note(1), _note(2))
    result = _poll(dovecot, sessions)
    assert (result.seen, len(result.stored), result.duplicates) == (4, 2, 2)
    assert _stored_uids(session) == [1, 2, 4]
    assert _cursor(session, dovecot) == 4


@on_postgres
def test_a_row_the_database_refuses_is_quarantined_alone_and_the_cursor_moves_on(
    session: Session, dovecot: Dovecot, sessions: sessionmaker[Session]
) -> None:
    session.execute(
        text("ALTER TABLE inbound_message ADD CONSTRAINT ck_boom CHECK (subject <> 'boom')")
    )
    session.commit()
    append_to(dovecot, _note(0), _note(1), _note(2, subject="boom"), _note(3))
    result = _poll(dovecot, sessions)
    assert (result.seen, len(result.stored)) == (4, 4)
    session.rollback()
    rows = session.scalars(select(InboundMessage).order_by(InboundMessage.uid)).all()
    assert [(r.uid, r.state) for r in rows] == [
        (1, "stored"), (2, "stored"), (3, "review"), (4, "stored")
    ]  # fmt: skip
    assert session.scalars(select(ReviewItem)).one().inbound_message_id == rows[2].id
    assert _cursor(session, dovecot) == 4


def test_a_chunk_whose_transaction_fails_keeps_nothing_and_is_stored_one_at_a_time(
    session: Session, dovecot: Dovecot, sessions: sessionmaker[Session]
) -> None:
    append_to(dovecot, *(_note(i) for i in range(5)))
    tried: list[int] = []

    def failing_after_storing(s: Session, raws: Sequence[bytes], **kwargs: Any) -> list[Any]:
        ids = ingest_many(s, raws, **kwargs)  # written, then the transaction fails
        tried.append(len(ids))
        raise RuntimeError("connection reset while committing")

    result = poll_mailbox(
        imap_target(dovecot), sessions, store=ingest, store_many=failing_after_storing,
        clock=lambda: NOW,
    )  # fmt: skip
    assert tried == [5]
    assert (result.seen, len(result.stored), result.duplicates) == (5, 5, 0)
    assert _stored_uids(session) == [1, 2, 3, 4, 5]
    assert _cursor(session, dovecot) == 5


def test_a_poller_killed_mid_chunk_loses_and_repeats_nothing(
    session: Session, dovecot: Dovecot, sessions: sessionmaker[Session]
) -> None:
    append_to(dovecot, *(_note(i) for i in range(inbox.FETCH_BATCH + 5)))
    chunks = 0

    def killed_in_the_second_chunk(s: Session, raws: Sequence[bytes], **kwargs: Any) -> list[Any]:
        nonlocal chunks
        chunks += 1
        ids = ingest_many(s, raws, **kwargs)
        if chunks == 2:
            raise KeyboardInterrupt  # not an error the poller handles: the process ends here
        return ids

    with pytest.raises(KeyboardInterrupt):
        poll_mailbox(
            imap_target(dovecot), sessions, store=ingest, store_many=killed_in_the_second_chunk,
            clock=lambda: NOW,
        )  # fmt: skip
    assert _stored_uids(session) == list(range(1, inbox.FETCH_BATCH + 1))
    assert _cursor(session, dovecot) == inbox.FETCH_BATCH
    result = _poll(dovecot, sessions)  # restarted
    assert (result.seen, len(result.stored), result.duplicates) == (5, 5, 0)
    assert _stored_uids(session) == list(range(1, inbox.FETCH_BATCH + 6))

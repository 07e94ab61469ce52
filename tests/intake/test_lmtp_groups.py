"""The LMTP listener's group commit, over real LMTP connections on PostgreSQL: deliveries that
arrive while a group is being stored are stored together; each is answered 250 only once its
group committed, a row the database refuses costs only that message a quarantine, and a
database that stores nothing answers 451 to every one of them."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from email import policy
from email.message import EmailMessage

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker
from support.dovecot import free_port
from support.hostile_run import lmtp_deliver

from worker.actions.ingest import ingest, ingest_many
from worker.mail.lmtp import start_listener
from worker.models import InboundMessage

pytestmark = pytest.mark.parametrize(
    "db_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)


def _mail(n: int, subject: str = "Re: the letter") -> bytes:
    msg = EmailMessage()
    msg["From"] = f"info@ngo{n}.example"
    msg["To"] = "signon@hrn.example"
    msg["Subject"] = subject
    msg["Message-ID"] = f"<reply-{n}@ngo{n}.example>"
    msg.set_content(f"We sign. ({n})")
    return msg.as_bytes(policy=policy.SMTP)  # CRLF, as it goes over the wire


def _by_reply(session: Session, n: int) -> list[InboundMessage]:
    """The stored row of each `_mail(0..n-1)`, in that order (the raw holds its Message-ID)."""
    rows = session.scalars(select(InboundMessage)).all()
    assert len(rows) == n
    return [next(r for r in rows if f"<reply-{i}@".encode() in r.raw) for i in range(n)]


class HeldFirstGroup:
    """`ingest_many` whose first call waits until `release` is set: the deliveries that arrive
    meanwhile must wait for, and form, the next group. Records each group's size."""

    def __init__(self) -> None:
        self.sizes: list[int] = []
        self.entered = threading.Event()
        self.release = threading.Event()
        self.queued: Callable[[], int] = lambda: 0

    def __call__(
        self, session: Session, raws: Sequence[bytes], *, source: str, now: datetime
    ) -> list[int | None]:
        self.sizes.append(len(raws))
        if len(self.sizes) == 1:
            self.entered.set()
            assert self.release.wait(30)
        return ingest_many(session, raws, source=source, now=now)


@pytest.fixture
def held() -> HeldFirstGroup:
    return HeldFirstGroup()


@pytest.fixture
def listening(
    sessions: sessionmaker[Session], held: HeldFirstGroup
) -> Iterator[tuple[int, list[int]]]:
    handed_on: list[int] = []
    port = free_port()
    controller = start_listener(
        sessions, "127.0.0.1", port, store=ingest, store_many=held, on_stored=handed_on.extend
    )
    held.queued = lambda: len(controller.handler._waiting)  # deliveries behind the held group
    yield port, handed_on
    controller.stop()


def _deliver_while_held(
    port: int, held: HeldFirstGroup, first: bytes, rest: list[bytes]
) -> list[str]:
    """Deliver `first`; once its group is being stored, `rest` on connections of their own;
    release the first group when all of them have arrived and wait."""
    with ThreadPoolExecutor(len(rest) + 1) as pool:
        answers = [pool.submit(lmtp_deliver, port, first, "signon@hrn.example")]
        assert held.entered.wait(30)
        answers += [pool.submit(lmtp_deliver, port, raw, "signon@hrn.example") for raw in rest]
        deadline = time.monotonic() + 30
        while held.queued() < len(rest) and time.monotonic() < deadline:
            time.sleep(0.01)  # the rest reach DATA and wait behind the held group
        assert held.queued() == len(rest)
        assert not any(a.done() for a in answers), "answered before its group committed"
        held.release.set()
        return [a.result(timeout=60) for a in answers]


def test_deliveries_that_arrive_while_a_group_is_stored_are_stored_together(
    listening: tuple[int, list[int]], held: HeldFirstGroup, session: Session
) -> None:
    port, handed_on = listening
    mails = [_mail(n) for n in range(8)]
    answers = _deliver_while_held(port, held, mails[0], mails[1:])
    assert held.sizes == [1, 7]
    assert all(a.startswith("250") for a in answers), answers
    rows = _by_reply(session, len(mails))
    for row, answer in zip(rows, answers, strict=True):
        assert f"stored as {row.id}" in answer and row.state == "stored"
    assert sorted(handed_on) == sorted(row.id for row in rows)


def test_a_row_refused_in_a_group_is_quarantined_alone(
    listening: tuple[int, list[int]], held: HeldFirstGroup, session: Session
) -> None:
    session.execute(
        text("ALTER TABLE inbound_message ADD CONSTRAINT ck_boom CHECK (subject <> 'boom')")
    )
    session.commit()
    port, _ = listening
    mails = [_mail(0), _mail(1), _mail(2, subject="boom"), _mail(3)]
    answers = _deliver_while_held(port, held, mails[0], mails[1:])
    assert held.sizes == [1, 3]
    assert all(a.startswith("250") for a in answers), answers
    assert [row.state for row in _by_reply(session, len(mails))] == [
        "stored", "stored", "review", "stored"
    ]  # fmt: skip


def test_a_database_that_stores_nothing_gets_451_for_each_delivery(
    sessions: sessionmaker[Session], session: Session
) -> None:
    def refuse(*_: object, **__: object) -> None:
        raise RuntimeError("the database is down")

    port = free_port()
    controller = start_listener(sessions, "127.0.0.1", port, store=refuse, store_many=refuse)
    try:
        with ThreadPoolExecutor(4) as pool:
            answers = list(
                pool.map(lambda n: lmtp_deliver(port, _mail(n), "signon@hrn.example"), range(4))
            )
    finally:
        controller.stop()
    assert all(a.startswith("451 4.3.0") for a in answers), answers
    assert session.scalars(select(InboundMessage)).all() == []

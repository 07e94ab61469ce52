"""Pooled connections on PostgreSQL: one idle a while is pinged (and replaced if dead) before
use; one used a moment ago is not, and if it died the pool recovers after one failure."""

from __future__ import annotations

import psycopg
import pytest
from sqlalchemy.exc import DBAPIError

from worker import db

pytestmark = pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)


def _backend_pid(url: str) -> int:
    with db.get_engine(url).connect() as conn:
        return int(conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one())


def _terminate(url: str, pid: int) -> None:
    with psycopg.connect(url.replace("postgresql+psycopg", "postgresql"), autocommit=True) as c:
        c.execute("SELECT pg_terminate_backend(%s)", (pid,))


def test_a_connection_that_died_while_idle_is_replaced_before_use(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = _backend_pid(db_url)
    _terminate(db_url, first)
    monkeypatch.setattr(db, "IDLE_BEFORE_PING", 0.0)  # as if it had been idle for long

    assert _backend_pid(db_url) != first  # no error reached the caller


def test_a_connection_used_a_moment_ago_is_not_pinged(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    pings: list[object] = []
    engine = db.get_engine(db_url)
    real = engine.dialect.do_ping
    monkeypatch.setattr(engine.dialect, "do_ping", lambda conn: pings.append(conn) or real(conn))
    pids = {_backend_pid(db_url) for _ in range(5)}

    assert len(pids) == 1 and len(pings) <= 1  # at most the very first checkout


def test_when_a_recently_used_connection_died_one_call_fails_and_the_next_works(
    db_url: str,
) -> None:
    first = _backend_pid(db_url)
    _terminate(db_url, first)

    with pytest.raises(DBAPIError):
        _backend_pid(db_url)
    assert _backend_pid(db_url) != first

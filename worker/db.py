"""Engine and sessions; one engine per process and database URL."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, sessionmaker

from worker.settings import get_settings

_ENGINES: dict[str, Engine] = {}


def get_engine(url: str | None = None) -> Engine:
    url = url or get_settings().resolved_database_url()
    if url not in _ENGINES:
        _ENGINES[url] = _create(url)
    return _ENGINES[url]


def _create(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            # WAL lets the worker, beat and CLI share the file; foreign keys are off by default.
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    engine = create_engine(url)
    if url.startswith("postgresql"):
        event.listen(engine, "connect", _postgres_session_settings)
    event.listen(engine, "checkin", _note_checkin)
    event.listen(engine, "checkout", _pinger(engine.dialect))
    return engine


# A pooled connection unused for this long is pinged before it is handed out (SQLAlchemy's
# "pessimistic" recipe with a window): pool_pre_ping pinged at every checkout, a round trip per
# transaction, which the LMTP listener paid once per delivery. A connection that died within
# the window fails its first statement instead; SQLAlchemy then discards the pool, and the
# task, delivery (451) or request is tried again.
IDLE_BEFORE_PING = 5.0


def _note_checkin(_dbapi_conn: Any, record: Any) -> None:
    record.info["checked_in_at"] = time.monotonic()


def _pinger(dialect: Any) -> Any:
    def ping_if_idle(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get("checked_in_at")
        if since is not None and time.monotonic() - since < IDLE_BEFORE_PING:
            return
        try:
            dialect.do_ping(dbapi_conn)
        except Exception as exc:  # the pool discards this connection and checks out another
            raise DisconnectionError(f"connection unusable: {type(exc).__name__}") from exc

    return ping_if_idle


# Outbox rows hold each email's MIME bytes (some 20 kB): PostgreSQL compresses such values when
# it stores them, and its default (pglz) costs about 0.4 ms of server CPU per email; lz4 costs a
# tenth of that. Only where the server offers it (PostgreSQL 14+ built with lz4), else no-op.
_LZ4_IF_AVAILABLE = (
    "SELECT set_config('default_toast_compression', 'lz4', false) FROM pg_settings "
    "WHERE name = 'default_toast_compression' AND 'lz4' = ANY(enumvals)"
)


def _postgres_session_settings(dbapi_conn: Any, _record: Any) -> None:
    autocommit = dbapi_conn.autocommit
    dbapi_conn.autocommit = True  # a session setting that a later ROLLBACK cannot undo
    try:
        cursor = dbapi_conn.cursor()
        cursor.execute(_LZ4_IF_AVAILABLE)
        # A host cut off by the network must not keep its row locks for hours (the kernel's
        # keepalive default): the server probes it and drops it after db_dead_client_seconds.
        dead = max(3, get_settings().db_dead_client_seconds)
        cursor.execute(
            "SELECT set_config('tcp_keepalives_idle', %s, false), "
            "set_config('tcp_keepalives_interval', %s, false), "
            "set_config('tcp_keepalives_count', '3', false)",
            (str(max(1, dead // 2)), str(max(1, dead // 6))),
        )
        cursor.close()
    finally:
        dbapi_conn.autocommit = autocommit


_FACTORIES: dict[str, sessionmaker[Session]] = {}


def session_factory(url: str | None = None) -> sessionmaker[Session]:
    """One sessionmaker per database URL: each sessionmaker makes a Session subclass, and a new
    subclass per transaction cost every session ~0.3 ms of event set-up (and grew SQLAlchemy's
    weak registries)."""
    url = url or get_settings().resolved_database_url()
    if url not in _FACTORIES:
        _FACTORIES[url] = sessionmaker(get_engine(url), expire_on_commit=False)
    return _FACTORIES[url]


@contextmanager
def session_scope(url: str | None = None) -> Iterator[Session]:
    """A transaction: commit on success, roll back on any error."""
    session = session_factory(url)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def reset_engines() -> None:
    """Close every pooled connection (after fork, between tests)."""
    for engine in _ENGINES.values():
        engine.dispose()
    _ENGINES.clear()
    _FACTORIES.clear()

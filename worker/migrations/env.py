"""Alembic environment: migrations run against the configured database (SQLite or PostgreSQL)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from worker.db import get_engine
from worker.models import Base

config = context.config


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite cannot ALTER most things
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


url = config.get_main_option("sqlalchemy.url")
given = config.attributes.get("connection")
if given is not None:
    _run(given)
else:
    with get_engine(url).connect() as conn:
        _run(conn)
        conn.commit()

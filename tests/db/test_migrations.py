"""Migrations build the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from worker import migrate
from worker.db import get_engine
from worker.models import Base


def test_upgrade_builds_every_table_on_an_empty_database(db_url: str) -> None:
    tables = set(inspect(get_engine(db_url)).get_table_names())
    assert set(Base.metadata.tables) <= tables
    head = ScriptDirectory.from_config(migrate.alembic_config(db_url)).get_current_head()
    assert migrate.current_heads(db_url) == {head}


def test_migrations_match_the_models(db_url: str) -> None:
    with get_engine(db_url).connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == [], f"models and migrations differ; add a migration: {diff}"


def test_upgrade_twice_changes_nothing(db_url: str) -> None:
    before = migrate.current_heads(db_url)
    migrate.upgrade(db_url)
    assert migrate.current_heads(db_url) == before

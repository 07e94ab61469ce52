"""`outreach db ...`: schema migrations."""

from __future__ import annotations

import typer

from worker import migrate
from worker.cli.apps import db_app
from worker.settings import get_settings


@db_app.command("upgrade")
def upgrade(revision: str = typer.Argument("head", help="Target revision.")) -> None:
    """Bring the database schema up to date (safe to run any number of times)."""
    url = get_settings().resolved_database_url()
    migrate.upgrade(url, revision)
    typer.echo(f"database at {_redact(url)} is at {', '.join(sorted(migrate.current_heads(url)))}")


def _redact(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)

"""`outreach web` (the web console) and `outreach user add` (who may log in to it)."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import Annotated

import typer

from worker.actions.users import add_user
from worker.cli.apps import app
from worker.db import session_scope
from worker.errors import UserError
from worker.settings import get_settings

user_app = typer.Typer(help="Web console accounts.", no_args_is_help=True)
app.add_typer(user_app, name="user")


def read_password(confirm: bool = True) -> str:
    """From a prompt on a terminal (asked twice), else the first line of standard input."""
    if sys.stdin.isatty():
        password: str = typer.prompt("Password", hide_input=True, confirmation_prompt=confirm)
        return password
    line = sys.stdin.readline()
    if not line:
        raise UserError("no password on standard input; pipe one line, e.g. `... < password.txt`")
    return line.rstrip("\r\n")


@user_app.command("add")
def user_add(
    email: Annotated[str, typer.Argument(help="The person's email address (their login).")],
    role: Annotated[str, typer.Option("--role", help="lead (decides) or viewer (only looks).")],
) -> None:
    """Add a console account, or set a new password and role for an existing one."""
    password = read_password()
    with session_scope() as session:
        outcome = add_user(session, email, role, password, now=datetime.now(UTC))
    typer.echo(f"user {email.strip().lower()}: {outcome} ({role})")


@app.command("web")
def web(
    host: Annotated[str | None, typer.Option(help="Listen address (OUTREACH_WEB_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Listen port (OUTREACH_WEB_PORT).")] = None,
) -> None:
    """Serve the web console until interrupted (default http://127.0.0.1:8080)."""
    serve(host, port)


def serve(host: str | None, port: int | None) -> None:
    import uvicorn

    from worker.web.app import create_app

    settings = get_settings()
    host, port = host or settings.web_host, port or settings.web_port
    typer.echo(f"web console on http://{host}:{port}/ (Ctrl-C stops it)")
    uvicorn.run(create_app(settings), host=host, port=port, log_level="warning",
                proxy_headers=False, server_header=False)  # fmt: skip

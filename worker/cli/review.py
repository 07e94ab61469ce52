"""`outreach review ...` (replies waiting for a person) and `outreach intake ...` (mail in)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import typer
from rich.table import Table

from worker.actions.ingest import ingest
from worker.actions.intake import enqueue, poll_once, process_now, start_lmtp
from worker.actions.reply_context import ACTOR
from worker.actions.review import OUTCOMES, get_item, resolve_item
from worker.actions.review_views import review_detail, review_rows
from worker.cli.console import make_console
from worker.db import session_scope
from worker.errors import UserError
from worker.settings import get_settings

from .apps import app, review_app

intake_app = typer.Typer(
    help="Mail in: poll the mailbox, read .eml files, run LMTP.", no_args_is_help=True
)
app.add_typer(intake_app, name="intake")


@review_app.command("list")
def review_list(
    campaign: str | None = typer.Option(None, "--campaign", help="Only this campaign (slug)."),
    all_: bool = typer.Option(False, "--all", help="Resolved items too."),
) -> None:
    """Replies waiting for a person, oldest first."""
    with session_scope() as session:
        rows = review_rows(session, campaign, include_resolved=all_)
    table = Table(title=f"Review queue ({len(rows)})")
    for column in ("id", "campaign", "received", "from", "intent", "reason", "state"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(
            str(row.id),
            row.campaign,
            row.received,
            row.from_addr,
            row.intent,
            row.reason,
            row.state,
        )
    make_console().print(table)
    if not rows:
        typer.echo("nothing waits for review")


@review_app.command("show")
def review_show(item_id: int = typer.Argument(..., help="Review item id.")) -> None:
    """The decoded text of the reply, its classification and the reasons."""
    console = make_console()
    with session_scope() as session:
        detail = review_detail(session, item_id)
    table = Table(show_header=False, title=f"Review item {detail.id}")
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    for label, value in detail.fields:
        table.add_row(label, value)
    console.print(table)
    if detail.has_message:
        console.rule("the sender's own words")
        console.print(detail.own_text or "(none found)", markup=False, highlight=False)


@review_app.command("resolve")
def review_resolve(
    item_id: int = typer.Argument(..., help="Review item id."),
    as_: str = typer.Option(..., "--as", help="sign | decline | question | unsubscribe | ignore"),
    name: str | None = typer.Option(None, "--name", help="Listing name (with --as sign)."),
    by: str | None = typer.Option(None, "--by", help="Who decided (recorded in the audit log)."),
    invitation_id: int | None = typer.Option(
        None, "--invitation", help="The invitation it answers, when the reply matched none."
    ),
    note: str | None = typer.Option(None, "--note", help="Why (kept with the item)."),
) -> None:
    """Decide a review item; the decision is applied and audited."""
    if as_ not in OUTCOMES:
        raise UserError(f"--as {as_!r}: choose one of {', '.join(OUTCOMES)}")
    who = by or "lead"
    settings = get_settings()
    with session_scope() as session:
        item = get_item(session, item_id)
        summary = resolve_item(
            session,
            item,
            outcome=as_,
            name=name,
            by=who,
            invitation_id=invitation_id,
            note=note,
            secret=settings.secret(),
            now=datetime.now(UTC),
        )
    typer.echo(f"review item {item_id}: {summary}")


# -- intake ---------------------------------------------------------------------------------


def _after_store(inline: bool) -> Callable[[list[int]], None]:
    if not inline:
        return enqueue

    def run(ids: list[int]) -> None:
        for inbound_id in ids:
            outcome = process_now(inbound_id)
            typer.echo(f"  message {inbound_id}: {outcome.action} ({outcome.state})")

    return run


@intake_app.command("poll")
def intake_poll(
    inline: bool = typer.Option(False, "--inline", help="Process here instead of enqueueing."),
) -> None:
    """One pass over the IMAP mailbox now (OUTREACH_IMAP_URL)."""
    result = poll_once(on_stored=_after_store(inline))
    if result is None:
        raise UserError(
            "no mailbox configured: set OUTREACH_IMAP_URL=imap://user:pass@host:port/INBOX"
        )
    typer.echo(
        f"{result.mailbox}: {result.seen} read, {len(result.stored)} new, "
        f"{result.duplicates} duplicate, last UID {result.last_uid}"
        + (" (UIDVALIDITY changed: mailbox re-read)" if result.uidvalidity_changed else "")
    )


@intake_app.command("file")
def intake_file(
    paths: list[Path] = typer.Argument(..., help=".eml files (raw messages)."),  # noqa: B008
    inline: bool = typer.Option(False, "--inline", help="Process here instead of enqueueing."),
) -> None:
    """Store .eml files as received mail, then process them."""
    missing = [p for p in paths if not p.is_file()]
    if missing:
        raise UserError("these files do not exist: " + ", ".join(str(p) for p in missing))
    stored: list[int] = []
    with session_scope() as session:
        for path in paths:
            new_id = ingest(
                session, path.read_bytes(), source="cli", now=datetime.now(UTC), mailbox=str(path)
            )
            typer.echo(f"{path}: " + (f"stored as {new_id}" if new_id else "already received"))
            if new_id is not None:
                stored.append(new_id)
    if stored:
        _after_store(inline)(stored)


@intake_app.command("lmtp")
def intake_lmtp(
    host: str | None = typer.Option(None, help="Listen address (OUTREACH_LMTP_HOST)."),
    port: int | None = typer.Option(None, help="Listen port (OUTREACH_LMTP_PORT)."),
    inline: bool = typer.Option(False, "--inline", help="Process here instead of enqueueing."),
) -> None:
    """Run the LMTP listener until interrupted."""
    run_lmtp(host, port, inline)


# `outreach lmtp`: the same command at the top level, for MTA configurations that name it.
_LMTP_HELP = "Run the LMTP listener until interrupted (same as `outreach intake lmtp`)."
app.command("lmtp", help=_LMTP_HELP)(intake_lmtp)


def run_lmtp(host: str | None, port: int | None, inline: bool) -> None:
    import signal
    import threading

    from worker.worker_node import freeze_startup_heap

    settings = get_settings()
    host = host or settings.lmtp_host
    port = port or settings.lmtp_port
    controller = start_lmtp(host, port, on_stored=_after_store(inline))
    freeze_startup_heap()
    typer.echo(f"LMTP listening on {host}:{port}; Ctrl-C stops", err=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.wait(1.0):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        controller.stop()


__all__ = ["ACTOR", "intake_app", "resolve_item"]

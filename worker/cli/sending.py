"""`outreach campaign start/pause/resume`, `outreach outbox list/retry`, `outreach worker/beat`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated
from zoneinfo import ZoneInfo

import typer
from rich.console import Console
from rich.table import Table

from worker.actions.campaigns import (
    Moved,
    pause_campaign,
    resume_campaign,
    start_campaign,
)
from worker.actions.outbox import retry_failed
from worker.actions.outbox_views import outbox_rows
from worker.cli.apps import app, campaign_app, outbox_app
from worker.db import session_scope

ACTOR = "cli"


def _console() -> Console:
    return Console(soft_wrap=False)


def _local(value: datetime | None, tz: ZoneInfo) -> str:
    return value.astimezone(tz).strftime("%Y-%m-%d %H:%M %Z") if value else "-"


def _move(slug: str, verb: Callable[..., Moved]) -> Moved:
    with session_scope() as session:
        return verb(session, slug, actor=ACTOR, now=datetime.now(UTC))


@campaign_app.command("start")
def start(campaign: Annotated[str, typer.Argument(help="The campaign's slug.")]) -> None:
    """Open a draft campaign: invitations go out at its invite_at, reminders follow by schedule."""
    opened = _move(campaign, start_campaign)
    tz = ZoneInfo(opened.timezone)
    first = opened.first_invitation_at
    when = "" if first is None else f" from {_local(first, tz)}"
    if first is not None and first <= datetime.now(UTC):
        when = " now (at the next scan)"
    typer.echo(
        f"campaign {opened.slug} is open: {opened.pending_invitations} invitation(s) go out"
        f"{when}; deadline {_local(opened.deadline, tz)}. When each email will go (quiet hours "
        "and reminder gaps included):"
    )
    for line in opened.schedule:
        typer.echo(f"  {line}")
    typer.echo("A worker and beat must be running (`outreach worker`, `outreach beat`).")
    if not opened.pending_invitations:
        typer.echo("note: no pending invitations; import contacts with `outreach contacts import`")


@campaign_app.command("pause")
def pause(campaign: Annotated[str, typer.Argument(help="The campaign's slug.")]) -> None:
    """Stop sending invitations and reminders (queued mail waits) until `campaign resume`."""
    _move(campaign, pause_campaign)
    typer.echo(f"campaign {campaign} is paused; nothing more is sent until `campaign resume`.")


@campaign_app.command("resume")
def resume(campaign: Annotated[str, typer.Argument(help="The campaign's slug.")]) -> None:
    """Carry on sending a paused campaign; what fell due meanwhile goes out at the next scan."""
    resumed = _move(campaign, resume_campaign)
    for warning in resumed.warnings:
        typer.echo(f"WARNING: {warning}", err=True)
    typer.echo(f"campaign {campaign} is open again; due mail goes out at the next scan.")


@outbox_app.command("list")
def list_outbox(
    state: Annotated[
        str | None, typer.Option(help="Only this state: queued, sending, sent, retry, failed...")
    ] = None,
    campaign: Annotated[str | None, typer.Option(help="Only this campaign (slug).")] = None,
    limit: Annotated[int, typer.Option(help="Show at most this many (newest first).")] = 100,
) -> None:
    """Outgoing mail with its state and the relay's last answer; times in the campaign's zone."""
    with session_scope() as session:
        rows = outbox_rows(session, state=state, campaign=campaign, limit=limit)
    console = _console()
    if rows and not console.is_terminal:
        # Piped or redirected: one tab-separated line per message, every value whole (a table
        # would be cut to the pipe's width); the header names the columns for `cut`/`awk`.
        typer.echo("id\tcampaign\tkind\t#\tto\tstate\ttries\twhen\tlast answer")
        for r in rows:
            cells = (r.id, r.campaign, r.kind, r.sequence, r.recipients, r.state, r.attempts,
                     r.when, r.last_answer)  # fmt: skip
            typer.echo("\t".join(" ".join(str(c).split()) for c in cells))
        return
    table = Table(title_justify="left")
    for header, justify in (
        ("id", "right"),
        ("campaign", "left"),
        ("kind", "left"),
        ("#", "right"),
        ("to", "left"),
        ("state", "left"),
        ("tries", "right"),
        ("when", "left"),
        ("last answer", "left"),
    ):
        table.add_column(header, justify=justify, overflow="fold")  # type: ignore[arg-type]
    for row in rows:
        table.add_row(
            str(row.id),
            row.campaign,
            row.kind,
            str(row.sequence),
            row.recipients,
            row.state,
            str(row.attempts),
            row.when,
            row.last_answer,
        )
    if not rows:
        console.print(
            "No outgoing mail matches." if (state or campaign) else "The outbox is empty."
        )
        return
    console.print(table)
    if state == "failed":
        console.print(
            "Retry one with `outreach outbox retry ID` once the cause is fixed; a 550 marks the "
            "address bounced and it stays suppressed."
        )


@outbox_app.command("retry")
def retry(outbox_id: Annotated[int, typer.Argument(help="The id shown by `outbox list`.")]) -> None:
    """Send a failed message again (same Message-ID), with a fresh count of attempts."""
    with session_scope() as session:
        row = retry_failed(session, outbox_id, actor=ACTOR, now=datetime.now(UTC))
        to = ", ".join(row.recipients)
    typer.echo(f"outbox message {outbox_id} to {to} is queued again.")


@app.command("worker")
def worker(
    queues: Annotated[
        str, typer.Option(help="Comma-separated queues to consume.")
    ] = "sending,scheduling,intake,delivery",
    concurrency: Annotated[int, typer.Option(help="Worker processes.")] = 2,
    beat: Annotated[
        bool, typer.Option(help="Also run beat inside this worker (one host).")
    ] = False,
    loglevel: Annotated[str, typer.Option(help="Celery log level.")] = "INFO",
    name: Annotated[
        str | None,
        typer.Option(help="Node name (default from the queues: sending@host, intake@host)."),
    ] = None,
) -> None:
    """Run a Celery worker (same as `celery -A worker.celery_app worker -Q ... -c N -n NAME`)."""
    from worker.celery_app import app as celery
    from worker.worker_node import node_name

    argv = ["worker", "-Q", queues, "-c", str(concurrency), "-P", "prefork", "-l", loglevel,
            "-n", node_name(queues, name)]  # fmt: skip
    if beat:
        argv.append("-B")
    celery.worker_main(argv)


@app.command("beat")
def beat(loglevel: Annotated[str, typer.Option(help="Celery log level.")] = "INFO") -> None:
    """Run the scheduler that starts the due-work scan (`celery -A worker.celery_app beat`)."""
    from worker.celery_app import app as celery

    celery.start(["beat", "-l", loglevel])

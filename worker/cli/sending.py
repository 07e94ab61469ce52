"""`outreach campaign start/pause/resume`, `outreach outbox list/retry`, `outreach worker/beat`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated
from zoneinfo import ZoneInfo

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import select

from worker.actions.campaigns import (
    Moved,
    find_campaign,
    pause_campaign,
    resume_campaign,
    start_campaign,
)
from worker.actions.outbox import retry_failed
from worker.cli.apps import app, campaign_app, outbox_app
from worker.db import session_scope
from worker.errors import UserError
from worker.models import Campaign, OutboundMessage

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
    pending = opened.pending_invitations
    tz = ZoneInfo(opened.timezone)
    when = (
        "now (at the next scan)"
        if opened.invite_at <= datetime.now(UTC)
        else _local(opened.invite_at, tz)
    )
    typer.echo(
        f"campaign {opened.slug} is open: {pending} invitation(s) go out {when}, outside quiet "
        f"hours; deadline {_local(opened.deadline, tz)}. A worker and beat must be running "
        "(`outreach worker`, `outreach beat`)."
    )
    if not pending:
        typer.echo("note: no pending invitations; import contacts with `outreach contacts import`")


@campaign_app.command("pause")
def pause(campaign: Annotated[str, typer.Argument(help="The campaign's slug.")]) -> None:
    """Stop sending invitations and reminders (queued mail waits) until `campaign resume`."""
    _move(campaign, pause_campaign)
    typer.echo(f"campaign {campaign} is paused; nothing more is sent until `campaign resume`.")


@campaign_app.command("resume")
def resume(campaign: Annotated[str, typer.Argument(help="The campaign's slug.")]) -> None:
    """Carry on sending a paused campaign; what fell due meanwhile goes out at the next scan."""
    _move(campaign, resume_campaign)
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
    from worker.core.states import OutboxState

    if state is not None and state not in {s.value for s in OutboxState}:
        raise UserError(
            f"--state {state}: unknown; use one of {', '.join(s.value for s in OutboxState)}"
        )
    with session_scope() as session:
        query = (
            select(OutboundMessage, Campaign.slug, Campaign.timezone)
            .join(Campaign, Campaign.id == OutboundMessage.campaign_id)
            .order_by(OutboundMessage.id.desc())
            .limit(limit)
        )
        if state:
            query = query.where(OutboundMessage.state == state)
        if campaign:
            query = query.where(Campaign.id == find_campaign(session, campaign).id)
        rows = session.execute(query).all()
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
        table.add_column(header, justify=justify)  # type: ignore[arg-type]
    for msg, slug, tz_name in reversed(rows):
        tz = ZoneInfo(tz_name)
        when = msg.sent_at if msg.state == "sent" else msg.next_attempt_at
        if msg.state in ("failed", "held", "suppressed"):
            when = msg.updated_at
        table.add_row(
            str(msg.id),
            slug,
            msg.kind,
            str(msg.sequence),
            ", ".join(msg.recipients),
            msg.state,
            str(msg.attempts),
            _local(when, tz),
            (msg.last_smtp_reply or "")[:80],
        )
    console = _console()
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

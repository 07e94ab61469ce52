"""`outreach review ...` (replies waiting for a person) and `outreach intake ...` (mail in)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import typer
from rich.table import Table
from sqlalchemy import select

from worker.actions.campaigns import find_campaign
from worker.actions.ingest import ingest
from worker.actions.reply_context import ACTOR
from worker.actions.review import OUTCOMES, get_item, resolve_item
from worker.cli.console import make_console
from worker.core.classify import classify
from worker.core.states import ReviewState
from worker.db import session_factory, session_scope
from worker.errors import UserError
from worker.models import Campaign, InboundMessage, Invitation, ReviewItem
from worker.settings import get_settings

from .apps import app, review_app

intake_app = typer.Typer(
    help="Mail in: poll the mailbox, read .eml files, run LMTP.", no_args_is_help=True
)
app.add_typer(intake_app, name="intake")


def _local(at: datetime | None, tz: str) -> str:
    return at.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M %Z") if at else "-"


@review_app.command("list")
def review_list(
    campaign: str | None = typer.Option(None, "--campaign", help="Only this campaign (slug)."),
    all_: bool = typer.Option(False, "--all", help="Resolved items too."),
) -> None:
    """Replies waiting for a person, oldest first."""
    with session_scope() as session:
        query = select(ReviewItem).order_by(ReviewItem.id)
        if campaign:
            query = query.where(ReviewItem.campaign_id == find_campaign(session, campaign).id)
        if not all_:
            query = query.where(ReviewItem.state == ReviewState.OPEN.value)
        items = list(session.scalars(query))
        table = Table(title=f"Review queue ({len(items)})")
        for column in ("id", "campaign", "received", "from", "intent", "reason", "state"):
            table.add_column(column, overflow="fold")
        for item in items:
            camp = session.get(Campaign, item.campaign_id) if item.campaign_id else None
            inbound = (
                session.get(InboundMessage, item.inbound_message_id)
                if item.inbound_message_id
                else None
            )
            tz = camp.timezone if camp else "UTC"
            table.add_row(
                str(item.id),
                camp.slug if camp else "-",
                _local(inbound.received_at if inbound else item.created_at, tz),
                (inbound.from_addr or "-") if inbound else "-",
                (inbound.intent or "-") if inbound else "-",
                item.reason[:120],
                item.state if item.state == ReviewState.OPEN.value else f"{item.resolution}",
            )
    make_console().print(table)
    if not items:
        typer.echo("nothing waits for review")


@review_app.command("show")
def review_show(item_id: int = typer.Argument(..., help="Review item id.")) -> None:
    """The decoded text of the reply, its classification and the reasons."""
    console = make_console()
    with session_scope() as session:
        item = get_item(session, item_id)
        camp = session.get(Campaign, item.campaign_id) if item.campaign_id else None
        tz = camp.timezone if camp else "UTC"
        inbound = (
            session.get(InboundMessage, item.inbound_message_id)
            if item.inbound_message_id
            else None
        )
        invitation = session.get(Invitation, item.invitation_id) if item.invitation_id else None
        table = Table(show_header=False, title=f"Review item {item.id}")
        table.add_column("field", style="bold")
        table.add_column("value", overflow="fold")
        table.add_row("state", item.state + (f" ({item.resolution})" if item.resolution else ""))
        table.add_row("reason", item.reason)
        table.add_row("campaign", camp.slug if camp else "-")
        if invitation is not None:
            org = invitation.organisation
            table.add_row(
                "invitation",
                f"{invitation.id} {invitation.contact.email} ({org.name_en or org.name_ja}), "
                f"state {invitation.state}",
            )
        if inbound is not None:
            classification: dict[str, Any] = inbound.classification or {}
            table.add_row("inbound", f"{inbound.id} via {inbound.source}")
            table.add_row("received", _local(inbound.received_at, tz))
            table.add_row("from", inbound.from_addr or "-")
            table.add_row("subject", inbound.subject or "-")
            table.add_row("message-id", inbound.message_id or "-")
            table.add_row("late", "yes" if inbound.is_late else "no")
            if not classification:
                result = classify(inbound.raw)
                classification = {
                    "intent": result.intent.value,
                    "name": result.name,
                    "reasons": list(result.reasons),
                    "own_text": result.own_text,
                }
            table.add_row("intent", str(classification.get("intent") or "-"))
            table.add_row("name asked for", str(classification.get("name") or "-"))
            table.add_row("reasons", "\n".join(classification.get("reasons") or []) or "-")
            for key in ("verification", "match"):
                if classification.get(key):
                    table.add_row(key, "\n".join(classification[key]))
            if inbound.error:
                table.add_row("error", inbound.error)
        if item.resolved_at:
            table.add_row("resolved", f"{_local(item.resolved_at, tz)} by {item.resolved_by}")
        if item.note:
            table.add_row("note", item.note)
        console.print(table)
        if inbound is not None:
            own = (inbound.classification or {}).get("own_text") or classify(inbound.raw).own_text
            console.rule("the sender's own words")
            console.print(own or "(none found)", markup=False, highlight=False)


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


def _after_store(inline: bool) -> Any:
    if inline:
        from worker.tasks.intake import process_now

        def run(ids: list[int]) -> None:
            for inbound_id in ids:
                outcome = process_now(inbound_id)
                typer.echo(f"  message {inbound_id}: {outcome.action} ({outcome.state})")

        return run
    from worker.tasks.intake import enqueue

    return enqueue


@intake_app.command("poll")
def intake_poll(
    inline: bool = typer.Option(False, "--inline", help="Process here instead of enqueueing."),
) -> None:
    """One pass over the IMAP mailbox now (OUTREACH_IMAP_URL)."""
    from worker.mail.inbox import poll_mailbox

    target = get_settings().imap_target()
    if target is None:
        raise UserError(
            "no mailbox configured: set OUTREACH_IMAP_URL=imap://user:pass@host:port/INBOX"
        )
    result = poll_mailbox(target, session_factory(), store=ingest, on_stored=_after_store(inline))
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


@app.command("lmtp")
def lmtp(
    host: str | None = typer.Option(None, help="Listen address (OUTREACH_LMTP_HOST)."),
    port: int | None = typer.Option(None, help="Listen port (OUTREACH_LMTP_PORT)."),
    inline: bool = typer.Option(False, "--inline", help="Process here instead of enqueueing."),
) -> None:
    """Run the LMTP listener until interrupted (same as `outreach intake lmtp`)."""
    run_lmtp(host, port, inline)


def run_lmtp(host: str | None, port: int | None, inline: bool) -> None:
    import signal
    import threading

    from worker.mail.lmtp import start_listener

    settings = get_settings()
    host = host or settings.lmtp_host
    port = port or settings.lmtp_port
    controller = start_listener(
        session_factory(), host, port, store=ingest, on_stored=_after_store(inline)
    )
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

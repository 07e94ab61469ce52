"""`outreach letter`, `campaign approve`, `outbox resolve` and `evidence`: the final letter."""

from __future__ import annotations

import getpass
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from worker.actions import deliver
from worker.actions.confirm_reading import confirm_reading as confirm_reading_of
from worker.actions.forecast import missed_mail_warning
from worker.actions.letter import build_letters, build_signatories, render_letter
from worker.cli.apps import app, campaign_app, outbox_app
from worker.cli.console import make_console
from worker.core.states import CampaignState
from worker.db import session_scope
from worker.errors import UserError
from worker.settings import get_settings


def _console() -> Console:
    return make_console(soft_wrap=False)


def _who(by: str | None) -> str:
    """Who is acting, for the audit log and the evidence: the login identity, which a person
    cannot type in; --by only adds on whose behalf ("cli:alice for lead:carol")."""
    try:
        login = f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        login = f"cli:uid{os.getuid()}"
    return f"{login} for {by}" if by else login


@app.command("letter")
def letter(
    campaign: Annotated[str, typer.Argument(help="Campaign slug, e.g. icc-2024.")],
    lang: Annotated[str, typer.Option("--lang", help="Language of the letter: en or ja.")] = "en",
    fmt: Annotated[str, typer.Option("--format", help="pdf, html or text.")] = "pdf",
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="File to write (text: stdout if omitted).")
    ] = None,
) -> None:
    """Render the letter as it stands now (a DRAFT watermark until the deadline froze the list)."""
    if fmt not in ("pdf", "html", "text"):
        raise UserError(f"--format {fmt!r}: use pdf, html or text")
    if fmt != "text" and output is None:
        raise UserError(f"--format {fmt} needs -o FILE (e.g. -o {campaign}-{lang}.{fmt})")
    now = datetime.now(UTC)
    with session_scope() as session:
        row = deliver.campaign_by_slug(session, campaign)
        data = render_letter(session, row, lang, fmt, now)  # type: ignore[arg-type]
        session.rollback()  # rendering stores nothing but the note that the lead saw the list
        seen = deliver.record_preview(session, row, actor=_who(None))
    typer.echo(
        f"signatory list: {seen['count']} organisations, list hash {seen['list_hash'][:16]}",
        err=True,
    )
    if output is None:
        typer.echo(data.decode("utf-8"), nl=False)
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_bytes(data)
    typer.echo(f"wrote {output} ({len(data):,} bytes)")


@campaign_app.command("approve")
def approve(
    campaign: Annotated[str, typer.Argument(help="Campaign slug.")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    by: Annotated[str | None, typer.Option("--by", help="Name recorded as approver.")] = None,
) -> None:
    """Show the final PDFs and the count, then release the final letter to the ministry."""
    console = _console()
    now = datetime.now(UTC)
    # 1. Bring the held letter up to date (a lead may have added a late signatory), and show it.
    with session_scope() as session:
        row = deliver.campaign_by_slug(session, campaign)
        if row.state != CampaignState.AWAITING_APPROVAL.value:
            deliver.approve(session, row, actor=_who(by), now=now, expected_sha256=None)
        deliver.refresh_held_letter(session, row, now=now)
    with session_scope() as session:
        row = deliver.campaign_by_slug(session, campaign)
        final = deliver.final_row(session, row.id)
        if final is None or final.raw is None:
            raise UserError(f"campaign {campaign}: the final letter is not prepared yet")
        digest = deliver.raw_sha256(final)
        folder = get_settings().data_dir / "letters" / campaign / digest[:12]
        folder.mkdir(parents=True, exist_ok=True)
        pdfs = deliver.attached_pdfs(final.raw)
        letters = build_letters(session, row)
        table = Table(title=f"Final letter of {campaign}")
        table.add_column("Language")
        table.add_column("Signatories", justify="right")
        table.add_column("Coordinators", justify="right")
        paths: list[str] = []
        for lang, letter in letters.items():
            name = f"{campaign}-letter-{lang}.pdf"
            if name in pdfs:
                (folder / name).write_bytes(pdfs[name])
                paths.append(f"PDF ({lang}): {folder / name}")
            else:
                paths.append(f"PDF ({lang}): missing from the prepared message")
            table.add_row(lang, str(letter.count), str(len(letter.coordinators)))
        console.print(table)
        for line in paths:  # plain lines: a path must never be cut to fit a table
            typer.echo(line)
        typer.echo(f"Message-ID: {final.message_id}")
        typer.echo(f"To: {final.recipients[0]}")
        typer.echo(f"Cc: {', '.join(final.recipients[1:]) or '-'}")
        warning = missed_mail_warning(session, row)
        signatories = build_signatories(session, row)
        typer.echo(
            f"Signatory list: {signatories.count} organisations, "
            f"list hash {signatories.digest()[:16]} (the same in every language, PDF and email)"
        )
        for item in signatories.problems:
            typer.echo(f"  - [{'must fix' if item.blocking else 'confirm'}] {item.message}")
        seen = deliver.record_preview(session, row, actor=_who(by))
    if warning:
        make_console(stderr=True, highlight=False).print(warning, style="bold red")
    if not yes and not typer.confirm("Send this letter to the ministry now?", default=False):
        typer.echo(
            f"Not sent: the final letter of {campaign} stays held for approval; nothing changed. "
            f"Run `outreach campaign approve {campaign}` again when it is ready."
        )
        raise typer.Exit(1)
    with session_scope() as session:
        row = deliver.campaign_by_slug(session, campaign)
        sent = deliver.approve(
            session, row, actor=_who(by), now=datetime.now(UTC), expected_sha256=digest,
            expected_list_hash=seen["list_hash"],
        )  # fmt: skip
        outbox_id = sent.id
    console.print(f"approved: outbox message {outbox_id} is queued for delivery")


@campaign_app.command("confirm-reading")
def confirm_reading(
    campaign: Annotated[str, typer.Argument(help="Campaign slug.")],
    org_id: Annotated[str, typer.Argument(help="The organisation's org_id (contacts file).")],
    reading: Annotated[str, typer.Argument(help="Its reading in hiragana, e.g. にほん...")],
    by: Annotated[str | None, typer.Option("--by", help="Name recorded in the audit log.")] = None,
) -> None:
    """Confirm the reading a Japanese (or Latin) name is filed under in gojūon order; after a
    rename, the reading of the new name. `campaign check` lists the readings still guessed."""
    with session_scope() as session:
        row = deliver.campaign_by_slug(session, campaign)
        what = confirm_reading_of(session, row, org_id, reading, actor=_who(by))
    typer.echo(f"confirmed: {what}")


@outbox_app.command("resolve")
def resolve(
    outbox_id: Annotated[int, typer.Argument(help="The held outbox message id.")],
    sent: Annotated[bool, typer.Option("--sent", help="It did go out: mark it sent.")] = False,
    resend: Annotated[bool, typer.Option("--resend", help="It did not: send it again.")] = False,
    by: Annotated[str | None, typer.Option("--by", help="Name recorded in the audit log.")] = None,
) -> None:
    """Decide about a final letter found in `sending` after a crash (never resent by itself)."""
    if sent == resend:
        raise UserError(
            "give exactly one of --sent (you checked that the ministry got it) or --resend "
            "(you checked that it did not go out)"
        )
    with session_scope() as session:
        outcome = deliver.resolve(
            session, outbox_id, sent=sent, actor=_who(by), now=datetime.now(UTC)
        )
    what = "marked sent" if sent else "queued again"
    extra = f"; {len(outcome.outbox_ids)} delivered notices queued" if sent else ""
    typer.echo(f"outbox message {outbox_id} {what} (campaign is {outcome.campaign_state}){extra}")


__all__ = ["approve", "letter", "resolve"]

"""`outreach campaign check` and `outreach preview`: see every email before one is sent."""

from __future__ import annotations

import email
from datetime import UTC, datetime
from email import policy
from email.header import decode_header, make_header
from email.message import EmailMessage

import typer
from sqlalchemy import select

from worker.actions.check_campaign import check_campaign, find_campaign, invitation_for
from worker.cli.apps import app, campaign_app
from worker.cli.console import make_console
from worker.db import session_scope
from worker.errors import NotFound
from worker.mail.context import CONTACT_KINDS
from worker.mail.outgoing import prepare_contact_email
from worker.models import Contact
from worker.settings import get_settings

_READ_HEADERS = (
    "Date", "From", "To", "Cc", "Reply-To", "Subject", "Message-ID", "In-Reply-To",
    "List-Unsubscribe", "Auto-Submitted", "Content-Language",
)  # fmt: skip


@campaign_app.command("check")
def check(campaign: str = typer.Argument(..., help="Campaign slug, e.g. icc-2024.")) -> None:
    """Render every email for every contact and language; list every problem at once (exit 2)."""
    settings = get_settings()
    console = make_console(highlight=False, soft_wrap=True)
    with session_scope() as session:
        report = check_campaign(
            session,
            campaign,
            secret=settings.secret(),
            now=datetime.now(UTC),
            templates_dir=settings.templates_dir,
        )
    if report.ok:
        letter = "; final letter checked" if report.letter_checked else ""
        console.print(
            f"{campaign}: {report.rendered} emails render for {report.contacts} contacts in "
            f"{', '.join(report.languages)}{letter}. No problems."
        )
        _print_forecast(campaign)
        return
    # One line per problem, never folded into a table: readable when piped, greppable, and
    # the same `where [field]: message` form as `campaign load`.
    typer.echo(f"{campaign}: {len(report.problems)} problem(s)", err=True)
    for problem in report.problems:
        typer.echo(f"  - {problem}", err=True)
    typer.echo("Fix these, then run `outreach campaign check` again.", err=True)
    raise typer.Exit(2)


def _print_forecast(slug: str) -> None:
    """When each email will really go: what `campaign start` would announce."""
    from worker.actions.check_campaign import find_campaign
    from worker.actions.forecast import campaign_forecast
    from worker.core.schedule_report import forecast_lines

    with session_scope() as session:
        fc = campaign_forecast(session, find_campaign(session, slug), datetime.now(UTC))
    for line in forecast_lines(fc):
        typer.echo(f"  {line}")


def readable(raw: bytes) -> str:
    """The message as a person reads it: decoded headers, then the text and HTML parts."""
    msg = email.message_from_bytes(raw, policy=policy.default)
    assert isinstance(msg, EmailMessage)
    # The raw (compat32) values decoded with make_header join split RFC 2047 words exactly as
    # mail readers do (the modern parser leaves a space between words in display names).
    source = email.message_from_bytes(raw, policy=policy.compat32)
    lines = []
    for name in _READ_HEADERS:
        for value in source.get_all(name, []):
            unfolded = str(value).replace("\r\n", "").replace("\n", "").strip()
            lines.append(f"{name}: {make_header(decode_header(unfolded))}")
    out = ["\n".join(lines)]
    for subtype in ("plain", "html"):
        part = msg.get_body(preferencelist=(subtype,))
        if part is not None and part.get_content_subtype() == subtype:
            label = "text part" if subtype == "plain" else "HTML part"
            out.append(f"----- {label} ({part.get_content_type()}; charset=utf-8) -----")
            out.append(part.get_content().rstrip("\n"))
    return "\n\n".join(out) + "\n"


def preview(
    campaign: str = typer.Argument(..., help="Campaign slug, e.g. icc-2024."),
    contact: str = typer.Option(..., "--contact", help="The contact's email address."),
    kind: str = typer.Option("invitation", "--kind", help=f"One of: {', '.join(CONTACT_KINDS)}."),
    sequence: int = typer.Option(0, "--sequence", help="Reminder number (the outbox sequence)."),
    raw: bool = typer.Option(False, "--raw", help="Print the MIME source instead."),
) -> None:
    """Print the exact email a contact would get (same Message-ID as the real send)."""
    if kind not in CONTACT_KINDS:
        raise NotFound(f"unknown kind {kind!r}; use one of: {', '.join(CONTACT_KINDS)}")
    settings = get_settings()
    with session_scope() as session:
        row = find_campaign(session, campaign)
        person = (
            session.scalars(
                select(Contact).where(
                    Contact.campaign_id == row.id, Contact.email == contact.strip().lower()
                )
            ).first()
            or session.scalars(
                select(Contact).where(
                    Contact.campaign_id == row.id, Contact.email == contact.strip()
                )
            ).first()
        )
        if person is None:
            raise NotFound(
                f"no contact {contact!r} in {campaign}; "
                "`outreach contacts import` adds contacts (check the spelling)"
            )
        invitation = invitation_for(session, row, person, settings.secret())
        with session.no_autoflush:
            prepared = prepare_contact_email(
                row, invitation, kind, sequence, secret=settings.secret(), now=datetime.now(UTC)
            )
        session.rollback()
    if raw:
        typer.echo(prepared.raw.decode("ascii", errors="replace").replace("\r\n", "\n"))
        return
    typer.echo(f"Envelope-From: {prepared.envelope_from}")
    typer.echo(f"Envelope-To: {', '.join(prepared.recipients)}")
    typer.echo(readable(prepared.raw), nl=False)


app.command("preview")(preview)

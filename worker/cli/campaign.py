"""`outreach campaign load|list|show`: campaign definitions in the database."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

import typer
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text
from sqlalchemy import func, select

from worker.actions.forecast import campaign_forecast
from worker.actions.load_campaign import load_campaign
from worker.actions.scan import campaign_plan
from worker.cli.apps import campaign_app
from worker.cli.console import make_console
from worker.core.durations import describe, parse_duration
from worker.core.schedule_report import forecast_lines, forecast_problems
from worker.db import session_scope
from worker.errors import NotFound
from worker.models import Campaign, Contact, Invitation, Organisation, Signature


def _console() -> Console:
    return make_console(highlight=False, markup=False)


def _local(value: datetime | None, tz: ZoneInfo) -> str:
    return value.astimezone(tz).strftime("%Y-%m-%d %H:%M %Z") if value else "-"


@campaign_app.command("load")
def load(
    file: Annotated[
        Path, typer.Argument(help="The campaign definition (.yaml); letters beside it.")
    ],
) -> None:
    """Validate a campaign definition and store it (loading the same file again changes nothing)."""
    with session_scope() as session:
        result = load_campaign(session, file)
        stored = session.get(Campaign, result.campaign_id)
        past = (
            stored is not None
            and stored.state == "draft"
            and stored.deadline <= datetime.now(UTC)
        )
        deadline = _local(stored.deadline, ZoneInfo(stored.timezone)) if stored else "-"
    if result.outcome == "created":
        typer.echo(f"campaign {result.slug}: created (draft) from {file}")
    elif result.outcome == "updated":
        typer.echo(f"campaign {result.slug}: updated {', '.join(result.changed)}")
    else:
        typer.echo(f"campaign {result.slug}: unchanged")
    if past:
        typer.echo(
            f"WARNING: its deadline {deadline} has passed: `campaign check` and `campaign start` "
            "refuse it; move schedule.deadline later and load the file again",
            err=True,
        )


@campaign_app.command("list")
def list_campaigns() -> None:
    """Every campaign with its state, schedule (in its own timezone) and counts."""
    with session_scope() as session:
        campaigns = session.scalars(select(Campaign).order_by(Campaign.invite_at)).all()
        orgs = dict(
            session.execute(
                select(Organisation.campaign_id, func.count()).group_by(Organisation.campaign_id)
            ).tuples().all()
        )
        contacts = dict(
            session.execute(
                select(Contact.campaign_id, func.count()).group_by(Contact.campaign_id)
            ).tuples().all()
        )
        table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, padding=(0, 1))
        for header in ("campaign", "state", "invitations", "deadline", "orgs",
                       "emails"):  # fmt: skip
            table.add_column(header, no_wrap=True)
        # The title is long: `campaign show` prints it; here it only fits on wide terminals.
        wide = _console().width >= 140
        if wide:
            table.add_column("title", ratio=1, overflow="fold")
        for c in campaigns:
            tz = ZoneInfo(c.timezone)
            table.add_row(c.slug, c.state, _local(c.invite_at, tz), _local(c.deadline, tz),
                          str(orgs.get(c.id, 0)), str(contacts.get(c.id, 0)),
                          *([c.title] if wide else []))  # fmt: skip
    if not campaigns:
        typer.echo("no campaigns yet; load one with `outreach campaign load FILE.yaml`")
        return
    _console().print(table)


@campaign_app.command("show")
def show(
    campaign: Annotated[str, typer.Argument(help="The campaign slug, e.g. icc-2024.")],
) -> None:
    """One campaign: schedule, recipients, sender, and where its invitations stand."""
    console = _console()
    with session_scope() as session:
        c = session.scalars(select(Campaign).where(Campaign.slug == campaign)).first()
        if c is None:
            raise NotFound(f"no campaign {campaign!r}; see `outreach campaign list`")
        d = c.definition
        tz = ZoneInfo(c.timezone)
        n_orgs = session.scalar(
            select(func.count()).select_from(Organisation).where(Organisation.campaign_id == c.id)
        )
        n_contacts = session.scalar(
            select(func.count()).select_from(Contact).where(Contact.campaign_id == c.id)
        )
        states = Counter(
            session.scalars(select(Invitation.state).where(Invitation.campaign_id == c.id))
        )
        n_signed = session.scalar(
            select(func.count()).select_from(Signature).where(
                Signature.campaign_id == c.id, Signature.state == "active"
            )
        )
        table = Table(show_header=False, box=None, pad_edge=False)
        table.add_column(style="bold")
        table.add_column()
        for lang, title in d.get("title", {}).items():
            table.add_row(f"title ({lang})", title)
        table.add_row("state", c.state)
        table.add_row("timezone", c.timezone)
        table.add_row("languages", ", ".join(c.languages))
        table.add_row("invitations go out", _local(c.invite_at, tz))
        schedule = d.get("schedule", {})
        for offset in schedule.get("reminders_before_deadline", [])[: d.get("max_reminders", 2)]:
            delta = parse_duration(offset)
            table.add_row("reminder", f"{_local(c.deadline - delta, tz)} ({describe(delta)} "
                                      "before the deadline)")  # fmt: skip
        table.add_row("deadline", _local(c.deadline, tz))
        table.add_row("quiet hours", campaign_plan(c).quiet_hours.describe())
        table.add_row("min. reminder gap", describe(campaign_plan(c).min_reminder_gap))
        fc = campaign_forecast(session, c, datetime.now(UTC))
        for line in forecast_lines(fc):
            table.add_row("will go", line)
        for problem in forecast_problems(fc) if c.state in ("draft", "open", "paused") else []:
            table.add_row(Text("WARNING", style="bold red"), Text(problem, style="bold red"))
        table.add_row("final letter", "after a lead approves it" if c.requires_approval
                      else "delivered automatically")  # fmt: skip
        recipient = d.get("ministry", {}).get("recipient", {})
        table.add_row("to", _person(recipient))
        for cc in d.get("ministry", {}).get("cc", []):
            table.add_row("cc", cc)
        for coordinator in d.get("coordinators", []):
            lead = " (lead)" if coordinator.get("lead") else ""
            table.add_row("coordinator", f"{_names(coordinator.get('name', {}))}{lead}")
        sender = d.get("sender", {})
        table.add_row("sender", f"{_names(sender.get('name', {}))} <{sender.get('address')}>")
        table.add_row("replies to", f"{sender.get('reply_local_part')}+TOKEN@"
                                    f"{sender.get('reply_domain')}")  # fmt: skip
        table.add_row("letter", ", ".join(f"{k}: {v}" for k, v in d.get("letter", {}).items()))
        table.add_row("letter hash", c.letter_hash[:16])
        table.add_row("organisations", str(n_orgs))
        table.add_row("addresses", str(n_contacts))
        table.add_row("invitations", ", ".join(f"{s}: {n}" for s, n in sorted(states.items()))
                      or "none")  # fmt: skip
        table.add_row("signatures", str(n_signed))
        table.add_row("loaded from", c.source_path or "-")
        table.add_row("updated", _local(c.updated_at, tz))
    console.print(f"campaign {c.slug}")
    console.print(table)


def _names(name: dict[str, str | None]) -> str:
    return " / ".join(v for v in (name.get("ja"), name.get("en")) if v)


def _person(person: dict[str, object]) -> str:
    name = person.get("name")
    title = person.get("title")
    parts = []
    if isinstance(title, dict):
        parts.append(_names(title))
    if isinstance(name, dict):
        parts.append(_names(name))
    return f"{' '.join(parts)} <{person.get('email')}>"

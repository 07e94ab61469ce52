"""`outreach contacts import|list`: a campaign's organisations and their addresses."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from worker.actions.contacts_views import contact_rows
from worker.actions.import_contacts import import_contacts
from worker.cli.apps import contacts_app
from worker.cli.console import make_console
from worker.db import session_scope
from worker.settings import get_settings

_PROGRESS_FROM = 200  # organisations; smaller files finish before a bar would help


@contacts_app.command("import")
def import_(
    campaign: Annotated[str, typer.Argument(help="The campaign slug, e.g. icc-2024.")],
    file: Annotated[Path, typer.Argument(help="The contacts CSV (UTF-8 or Excel's Shift_JIS).")],
    skip_bad_rows: Annotated[
        bool, typer.Option("--skip-bad-rows", help="Import the good rows and list the bad ones.")
    ] = False,
) -> None:
    """Add or update a campaign's organisations and addresses from a CSV file."""
    console = make_console(highlight=False, stderr=True)
    settings = get_settings()
    with Progress(
        TextColumn("importing"), BarColumn(), MofNCompleteColumn(),
        console=console, transient=True, disable=not console.is_terminal,
    ) as bar:  # fmt: skip
        task = bar.add_task("import", total=None)

        def advance(done: int, total: int) -> None:
            if total >= _PROGRESS_FROM:
                bar.update(task, completed=done, total=total)

        with session_scope() as session:
            summary = import_contacts(
                session, campaign, file, secret=settings.secret(),
                skip_bad_rows=skip_bad_rows, progress=advance,
            )  # fmt: skip
    out = make_console(highlight=False, markup=False)
    out.print(f"read {file} as {summary.encoding}: {summary.rows} rows")
    if summary.skipped_rows:
        out.print(f"skipped {len(summary.skipped_rows)} bad rows:")
        for problem in summary.problems:
            out.print(f"  - {problem}")
    table = Table("", "created", "updated", "unchanged")
    for label, counts in (("organisations", summary.organisations),
                          ("addresses", summary.contacts)):  # fmt: skip
        table.add_row(label, *(str(counts[k]) for k in ("created", "updated", "unchanged")))
    out.print(table)
    out.print(f"invitations created (pending): {summary.invitations_created}")
    if summary.readings_from_analyser:
        out.print(f"readings filled in by the analyser: {summary.readings_from_analyser} "
                  "(check them with `outreach contacts list`; a reading column overrides)")
    for kept in summary.kept_not_in_file:
        out.print(f"not in file, kept: {kept}")
    for recognised in summary.coordinators_recognised:
        out.print(f"coordinator (never invited, never listed as a signatory): {recognised}")


@contacts_app.command("list")
def list_contacts(
    campaign: Annotated[str, typer.Argument(help="The campaign slug, e.g. icc-2024.")],
) -> None:
    """Organisations in gojūon order of their reading, with their addresses and invitations."""
    with session_scope() as session:
        orgs = contact_rows(session, campaign)
    table = Table()
    for header in ("org_id", "address", "lang", "invitation"):
        table.add_column(header, overflow="fold")
    table.add_column("organisation (name_ja, reading, name_en)", ratio=1, min_width=16,
                     overflow="fold")  # fmt: skip
    for org in orgs:
        reading = (org.reading or "") + (" *" if org.reading_from_analyser else "")
        for n, address in enumerate(org.addresses):
            first = n == 0
            cells = [
                (org.key + (" (coordinator)" if org.is_coordinator else "")) if first else "",
                address.email,
                address.language,
                address.invitation,
                "\n".join(filter(None, (org.name_ja, reading, org.name_en))) if first else "",
            ]
            table.add_row(*cells)
    console = make_console(highlight=False, markup=False)
    console.print(table)
    addresses = sum(len(o.addresses) for o in orgs)
    console.print(f"{len(orgs)} organisations, {addresses} addresses"
                  + ("; * reading from the analyser" if any(
                      o.reading_from_analyser for o in orgs) else ""))  # fmt: skip

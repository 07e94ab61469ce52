"""The `outreach` command groups; command modules attach their commands to these."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="outreach",
    help="Sign-on letter campaigns by email.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
campaign_app = typer.Typer(help="Define, check, start and deliver campaigns.", no_args_is_help=True)
contacts_app = typer.Typer(help="The NGOs and their addresses.", no_args_is_help=True)
outbox_app = typer.Typer(help="Outgoing mail: what is queued, sent, failed.", no_args_is_help=True)
review_app = typer.Typer(help="Replies waiting for a person.", no_args_is_help=True)

app.add_typer(db_app, name="db")
app.add_typer(campaign_app, name="campaign")
app.add_typer(contacts_app, name="contacts")
app.add_typer(outbox_app, name="outbox")
app.add_typer(review_app, name="review")

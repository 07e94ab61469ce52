"""Untrusted text shown by the CLI prints as written: Rich markup in a subject or name is text."""

from __future__ import annotations

from sqlalchemy import select
from typer.testing import CliRunner

from worker.cli import _load_commands, app
from worker.models import ReviewItem

from .conftest import World, reply_to

HOSTILE_SUBJECT = "Re: [/draft] [bold red]URGENT[/] :warning: [link=http://evil]x[/link]"


def test_review_list_and_show_print_markup_from_a_reply_as_text(world: World) -> None:
    sent = world.sent("info@green.example")
    raw = reply_to(sent.raw or b"", "Maybe? [/draft] [blink]sign[/blink]",
                   sender="mallory@evil.example", headers={"Subject": HOSTILE_SUBJECT})
    world.receive(raw)
    item_id = world.session.scalars(select(ReviewItem.id)).one()
    _load_commands()
    listed = CliRunner().invoke(app, ["review", "list"])
    shown = CliRunner().invoke(app, ["review", "show", str(item_id)])
    assert listed.exit_code == 0, listed.output
    assert shown.exit_code == 0, shown.output
    flat = " ".join(shown.output.split())
    assert "[/draft] [bold red]URGENT[/] :warning:" in flat
    assert "[blink]sign[/blink]" in flat

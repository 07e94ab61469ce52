"""`outreach outbox list` piped into another program: every value whole, one line per message."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from worker.core.states import OutboxState

from .conftest import CampaignBuilder

Cli = Callable[..., tuple[int, str]]


def test_outbox_list_piped_keeps_long_answers_and_addresses_whole(
    builder: CampaignBuilder, cli: Cli
) -> None:
    import worker.cli.sending  # noqa: F401  (registers `outbox list`)

    built = builder.campaign("pipe", 2, deadline=builder.now + timedelta(days=3))
    answer = (
        "550 5.1.1 <c0@pipe.example>: Recipient address rejected: User unknown in virtual "
        "mailbox table; see https://postmaster.example.org/errors/5.1.1 for what to do next"
    )
    row = builder.outbox(built.invitations[0], "invitation", OutboxState.FAILED)
    row.last_smtp_reply = answer
    builder.session.commit()
    builder.outbox(built.invitations[1], "invitation", OutboxState.SENT)

    code, out = cli("outbox", "list")  # CliRunner's output is not a terminal, as in a pipe
    assert code == 0, out
    lines = out.splitlines()
    assert lines[0].split("\t")[:3] == ["id", "campaign", "kind"]
    assert len(lines) == 3
    failed = next(line.split("\t") for line in lines[1:] if "\tfailed\t" in line)
    assert failed[-1] == answer and len(failed) == 9

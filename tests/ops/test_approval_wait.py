"""The approval wait is not trouble: `status` and the metrics count a final letter waiting for
a lead apart from a message held after a crash, so an alert on `held` fires only on the latter;
and the schedule forecast is a metric an alert can watch."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from worker.core.states import OutboxState

from .conftest import CampaignBuilder
from .test_metrics import _samples

Cli = Callable[..., tuple[int, str]]


def _figures(cli: Cli) -> dict[str, dict[str, Any]]:
    code, out = cli("status", "--json", "--ping-timeout", "0")
    assert code == 0, out
    return {c["slug"]: c["outbox"] for c in json.loads(out)["campaigns"]}


def test_a_letter_awaiting_approval_is_not_held_but_a_crashed_one_is(
    builder: CampaignBuilder, cli: Cli, tmp_path: Path
) -> None:
    waiting = builder.campaign("waits", 1, deadline=builder.now - timedelta(hours=2))
    waiting.campaign.state = "awaiting_approval"
    crashed = builder.campaign("crashed", 1, deadline=builder.now - timedelta(hours=2))
    crashed.campaign.state = "delivering"
    builder.session.commit()
    builder.outbox(waiting.invitations[0], "final_letter", OutboxState.HELD)
    builder.outbox(crashed.invitations[0], "final_letter", OutboxState.HELD)

    figures = _figures(cli)
    assert (figures["waits"]["held"], figures["waits"]["awaiting_approval"]) == (0, 1)
    assert (figures["crashed"]["held"], figures["crashed"]["awaiting_approval"]) == (1, 0)
    code, out = cli("status", "--ping-timeout", "0")
    assert code == 0 and "approval" in out

    path = tmp_path / "outreach.prom"
    code, out = cli("metrics", "write", str(path))
    assert code == 0, out
    s = _samples(path.read_text())
    assert s[("outreach_outbox_held", (("campaign", "waits"),))] == 0
    assert s[("outreach_outbox_awaiting_approval", (("campaign", "waits"),))] == 1
    assert s[("outreach_outbox_held", (("campaign", "crashed"),))] == 1
    assert s[("outreach_outbox_awaiting_approval", (("campaign", "crashed"),))] == 0


def test_reminders_that_cannot_happen_are_a_metric_and_a_status_warning(
    builder: CampaignBuilder, cli: Cli, tmp_path: Path
) -> None:
    built = builder.campaign("tight", 3, deadline=builder.now + timedelta(hours=5))
    built.campaign.invite_at = builder.now - timedelta(minutes=1)
    built.campaign.definition = {
        "schedule": {"reminders_before_deadline": ["PT3H", "PT1H"], "quiet_hours": None},
        "max_reminders": 2,
    }  # invited now: a 20-hour gap leaves no room for either reminder
    builder.session.commit()
    path = tmp_path / "outreach.prom"
    code, out = cli("metrics", "write", str(path))
    assert code == 0, out
    s = _samples(path.read_text())
    tight = (("campaign", "tight"),)
    assert s[("outreach_schedule_missed", (*tight, ("kind", "invitation")))] == 0
    assert s[("outreach_schedule_missed", (*tight, ("kind", "reminder")))] == 6
    code, out = cli("status", "--ping-timeout", "0")
    assert code == 0, out
    assert "tight: WARNING: 6 listed reminder(s) can never be sent" in " ".join(out.split())


def test_approval_warns_when_organisations_were_never_invited(builder: CampaignBuilder) -> None:
    """The issue's trap: 2 of 3 organisations stayed `pending` (quiet hours), yet the letter
    was approved without a word. The approval step now says it."""
    from worker.actions.forecast import missed_mail_warning

    built = builder.campaign("trap", 3, deadline=builder.now - timedelta(minutes=5))
    built.campaign.state = "awaiting_approval"
    built.invitations[0].state = "signed"
    builder.session.commit()
    warning = missed_mail_warning(builder.session, built.campaign)
    assert warning is not None
    assert warning.startswith("WARNING: 2 of 3 organisations were never invited")
    for invitation in built.invitations[1:]:
        invitation.state = "invited"
    builder.session.commit()
    assert missed_mail_warning(builder.session, built.campaign) is None

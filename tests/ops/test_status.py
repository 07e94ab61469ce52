"""`outreach status --json` follows a campaign from loaded to answered, figure by figure."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from worker.actions.status import filesystem_queue_depths, format_duration
from worker.core.states import InvitationState, OutboxState
from worker.errors import NotFound

from .conftest import CampaignBuilder

Cli = Callable[..., tuple[int, str]]


def _status(cli: Cli, *args: str) -> dict[str, Any]:
    code, out = cli("status", "--json", "--ping-timeout", "0", *args)
    assert code == 0, out
    result: dict[str, Any] = json.loads(out)
    return result


def test_status_json_follows_a_campaign_through_its_funnel(
    builder: CampaignBuilder, cli: Cli
) -> None:
    deadline = builder.now + timedelta(days=3, hours=5, minutes=30)
    built = builder.campaign("icc", 8, deadline=deadline)
    other = builder.campaign("other", 2, deadline=builder.now + timedelta(days=30))
    inv = built.invitations

    # 1. Loaded: every organisation known, nobody invited yet.
    funnel = _status(cli, "icc")["campaigns"][0]["funnel"]
    assert funnel["organisations"] == 8
    assert funnel["contacts"] == 8
    assert funnel["invited"] == 0
    assert funnel["not_yet_invited"] == 8

    # 2. Invitations queued: 6 due now, 2 not due yet (e.g. quiet hours in their timezone).
    rows = [builder.outbox(i, "invitation", OutboxState.QUEUED) for i in inv[:6]]
    later = builder.now + timedelta(hours=2)
    rows += [
        builder.outbox(i, "invitation", OutboxState.QUEUED, next_attempt_at=later) for i in inv[6:]
    ]
    report = _status(cli, "icc")
    assert report["campaigns"][0]["funnel"]["invited"] == 8
    assert report["campaigns"][0]["funnel"]["delivered"] == 0
    assert report["campaigns"][0]["outbox"]["due"] == 6
    assert report["outbox"]["due"] == 6

    # 3. The worker sends: 5 sent, 1 claimed by a worker that died (lease over), 1 still
    #    inside its lease, 1 failed for good (550); then the invitations are "invited".
    for row in rows[:5]:
        row.state = OutboxState.SENT.value
    rows[5].state = OutboxState.SENDING.value
    rows[5].lease_until = builder.now - timedelta(minutes=5)
    rows[6].state = OutboxState.SENDING.value
    rows[6].lease_until = builder.now + timedelta(minutes=5)
    rows[7].state = OutboxState.FAILED.value
    for i in inv:
        i.state = InvitationState.INVITED.value
    builder.session.commit()
    report = _status(cli, "icc")
    campaign = report["campaigns"][0]
    assert campaign["funnel"]["delivered"] == 5
    assert campaign["funnel"]["no_answer"] == 8
    assert campaign["outbox"] == {
        "due": 0,
        "stuck_sending": 1,
        "failed": 1,
        "held": 0,
        "awaiting_approval": 0,
        "retry": 0,
        "sent": 5,
        "total": 8,
    }

    # 4. Replies: 3 sign, 1 declines, 1 asks a question, 1 bounces; a reminder goes to one
    #    of those who did not answer (reminders do not count as invitations).
    for i in inv[:3]:
        builder.answer(i, InvitationState.SIGNED)
    builder.answer(inv[3], InvitationState.DECLINED)
    builder.answer(inv[4], InvitationState.QUESTION)
    builder.answer(inv[7], InvitationState.BOUNCED)
    builder.outbox(inv[5], "reminder", OutboxState.HELD)
    builder.beat(builder.now - timedelta(seconds=10))
    report = _status(cli, "icc")
    funnel = report["campaigns"][0]["funnel"]
    assert (funnel["signed"], funnel["declined"], funnel["questions"], funnel["bounced"]) == (
        3,
        1,
        1,
        1,
    )
    assert funnel["review_open"] == 1
    assert funnel["no_answer"] == 2
    assert funnel["invited"] == 8
    assert report["campaigns"][0]["outbox"]["held"] == 1
    assert report["beat"]["stale"] is False
    assert 5 <= report["beat"]["age_seconds"] < 120

    # 5. Time left is counted to the deadline, shown in the campaign's timezone.
    campaign = report["campaigns"][0]
    assert campaign["time_left"] == "3d 5h 29m"
    assert campaign["deadline"].endswith("+09:00")
    assert campaign["deadline_local"].endswith("JST")

    # 6. Without a campaign argument every campaign is listed, the outbox summed.
    everything = _status(cli)
    assert [c["slug"] for c in everything["campaigns"]] == ["icc", "other"]
    assert everything["outbox"]["total"] == 9
    assert other.campaign.slug == "other"


def test_status_flags_a_stale_beat_and_an_unknown_campaign(
    builder: CampaignBuilder, cli: Cli
) -> None:
    builder.campaign("icc", 1, deadline=builder.now - timedelta(hours=2))
    report = _status(cli)
    assert report["beat"] == {"last_tick": None, "age_seconds": None, "stale": True}
    assert report["campaigns"][0]["time_left"].startswith("passed 2h")
    builder.beat(builder.now - timedelta(minutes=10))
    assert _status(cli)["beat"]["stale"] is True

    with pytest.raises(NotFound, match="known: icc"):
        cli("status", "nope", "--ping-timeout", "0")


def test_status_table_is_readable_without_a_broker_answer(
    builder: CampaignBuilder, cli: Cli
) -> None:
    builder.campaign("icc", 2, deadline=builder.now + timedelta(days=1))
    code, out = cli("status", "--ping-timeout", "0")
    assert code == 0
    assert "icc" in out
    assert "never ticked" in out


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (3 * 86400 + 4 * 3600 + 12 * 60 + 5, "3d 4h 12m"),
        (3600 + 60, "1h 1m"),
        (59, "59s"),
        (-7200 - 300, "passed 2h 5m ago"),
    ],
)
def test_format_duration_reads_like_a_person_would_say_it(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


def test_filesystem_broker_depth_counts_message_files_per_queue(tmp_path: Any) -> None:
    for name in ("1_a.sending.msg", "2_b.sending.msg", "3_c.intake.msg", "4_d.celery.pidbox.msg"):
        (tmp_path / name).write_text("{}")
    (tmp_path / "processed").mkdir()
    depths = filesystem_queue_depths(tmp_path)
    assert depths == {"sending": 2, "intake": 1, "scheduling": 0, "delivery": 0}

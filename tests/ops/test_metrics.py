"""Prometheus metrics come from the database: due mail, stuck rows, failures, signatures."""

from __future__ import annotations

import socket
import urllib.request
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from worker.core.states import InvitationState, OutboxState
from worker.metrics import serve

from .conftest import CampaignBuilder

Cli = Callable[..., tuple[int, str]]


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def _stage(builder: CampaignBuilder) -> None:
    built = builder.campaign("icc", 5, deadline=builder.now + timedelta(days=2))
    builder.campaign("quiet", 1, deadline=builder.now + timedelta(days=9))
    inv = built.invitations
    builder.outbox(inv[0], "invitation", OutboxState.SENT)
    builder.outbox(
        inv[1],
        "invitation",
        OutboxState.QUEUED,
        next_attempt_at=builder.now - timedelta(minutes=10),
    )
    builder.outbox(
        inv[2], "invitation", OutboxState.RETRY, next_attempt_at=builder.now - timedelta(minutes=1)
    )
    builder.outbox(
        inv[3], "invitation", OutboxState.RETRY, next_attempt_at=builder.now + timedelta(hours=1)
    )
    builder.outbox(
        inv[4], "invitation", OutboxState.SENDING, lease_until=builder.now - timedelta(seconds=1)
    )
    builder.outbox(inv[0], "final_letter", OutboxState.HELD)
    builder.outbox(inv[1], "reminder", OutboxState.FAILED)
    builder.answer(inv[0], InvitationState.SIGNED)
    builder.answer(inv[1], InvitationState.SIGNED)
    builder.answer(inv[2], InvitationState.QUESTION)
    builder.beat(builder.now - timedelta(seconds=30))


def test_metrics_textfile_has_the_outbox_and_campaign_gauges(
    builder: CampaignBuilder, cli: Cli, tmp_path: Path
) -> None:
    _stage(builder)
    path = tmp_path / "textfile" / "outreach.prom"
    code, out = cli("metrics", "write", str(path))
    assert code == 0, out
    s = _samples(path.read_text())
    icc = (("campaign", "icc"),)
    assert s[("outreach_database_up", ())] == 1
    assert s[("outreach_outbox_due", icc)] == 2  # queued + retry whose time has come
    assert s[("outreach_outbox_stuck_sending", icc)] == 1
    assert s[("outreach_outbox_failed", icc)] == 1
    assert s[("outreach_outbox_held", icc)] == 1
    assert s[("outreach_outbox_due", (("campaign", "quiet"),))] == 0  # present at zero
    assert 590 <= s[("outreach_outbox_oldest_due_age_seconds", icc)] <= 700
    assert s[("outreach_signatures", (("campaign", "icc"), ("state", "active")))] == 2
    assert s[("outreach_invitations", (("campaign", "icc"), ("state", "question")))] == 1
    assert s[("outreach_review_open", icc)] == 1
    assert (
        s[
            (
                "outreach_outbox_messages",
                (("campaign", "icc"), ("kind", "invitation"), ("state", "sent")),
            )
        ]
        == 1
    )
    assert 30 <= s[("outreach_beat_heartbeat_age_seconds", ())] < 90
    left = s[("outreach_campaign_seconds_to_deadline", (("campaign", "icc"), ("state", "open")))]
    assert 2 * 86400 - 120 < left <= 2 * 86400


def test_metrics_server_reads_the_database_at_each_scrape(
    builder: CampaignBuilder, env: dict[str, str]
) -> None:
    built = builder.campaign("icc", 1, deadline=builder.now + timedelta(days=2))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server, thread = serve(port, "127.0.0.1")
    try:
        url = f"http://127.0.0.1:{port}/metrics"

        def scrape() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
            with urllib.request.urlopen(url, timeout=5) as response:
                return _samples(response.read().decode())

        key = ("outreach_outbox_failed", (("campaign", "icc"),))
        assert scrape()[key] == 0
        builder.outbox(built.invitations[0], "invitation", OutboxState.FAILED)
        assert scrape()[key] == 1
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)

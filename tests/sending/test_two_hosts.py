"""Two worker hosts, each in its own network namespace; one loses its network mid-campaign.

Both run a Celery worker and a beat. The host whose beat leads is cut off (its link goes
down: connections hang, as in a real partition). Then: nothing is lost, a recipient gets at
most one extra copy (the messages in flight on the cut host) with the same Message-ID, the
other host finishes the campaign, and at no moment do two beats lead.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import redis
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from support import netns
from support.smtp_sink import SmtpSink

from worker.actions.beat import BEAT_LOCK_KEY
from worker.models import OutboundMessage

from .conftest import REDIS_URL, REPO, build_campaign, wait_until

WHY_NOT = netns.available()
pytestmark = [
    pytest.mark.slow,
    pytest.mark.redis,
    pytest.mark.parametrize("db_url", ["postgresql"], indirect=True),
    pytest.mark.skipif(WHY_NOT is not None, reason=f"network namespaces: {WHY_NOT}"),
]
CELERY = str(REPO / ".venv" / "bin" / "celery")
N = 240
CONCURRENCY = 2
_BEAT_LINE = re.compile(r"^(\S+)\s.*beat (\S+): (leading|standing by)")


@pytest.fixture
def hosts(sink: SmtpSink, db_url: str) -> Iterator[list[netns.Host]]:
    ports = [urlsplit(db_url).port or 5432, urlsplit(REDIS_URL).port or 6379, sink.port]
    base = os.getpid() % 200 + 20
    made = [netns.Host(f"otest-{os.getpid()}-{i}", base + i) for i in range(2)]
    try:
        for host in made:
            host.create(ports)
        yield made
    finally:
        for host in made:
            host.destroy()


def _env(host: netns.Host, db_url: str, sink: SmtpSink, tmp_path: Path) -> dict[str, str]:
    def via(url: str) -> str:
        return url.replace("127.0.0.1", host.address)

    return {
        **os.environ,
        "OUTREACH_DATABASE_URL": via(db_url),
        "OUTREACH_BROKER_URL": via(REDIS_URL),
        "OUTREACH_SMTP_URL": f"smtp://{host.address}:{sink.port}",
        "OUTREACH_SECRET_KEY": "two-hosts-shared-secret",
        "OUTREACH_DATA_DIR": str(tmp_path / host.name),
        "OUTREACH_SMTP_RATE_PER_MINUTE": "1200",  # 20/s: the campaign takes ~12 s
        "OUTREACH_SCAN_INTERVAL_SECONDS": "0.5",
        "OUTREACH_OUTBOX_LEASE_SECONDS": "3",
        "OUTREACH_DISPATCH_WINDOW_SECONDS": "4",
        "OUTREACH_OUTBOX_BATCH_SIZE": "10",
        "OUTREACH_SMTP_TIMEOUT_SECONDS": "5",
        "OUTREACH_DB_DEAD_CLIENT_SECONDS": "6",
        "OUTREACH_IMAP_URL": "",
        "PYTHONPATH": str(REPO),
    }


def _sent(session: Session) -> int:
    session.expire_all()
    return int(session.scalar(select(func.count()).where(OutboundMessage.state == "sent")) or 0)


def _leadership(log: Path) -> list[tuple[datetime, str]]:
    """(when, 'leading' | 'standing by') lines of one beat's log."""
    found = []
    for line in log.read_text(errors="replace").splitlines():
        match = _BEAT_LINE.search(line)
        if match:
            found.append(
                (datetime.fromisoformat(match.group(1).replace("Z", "+00:00")), match.group(3))
            )
    return found


def test_a_host_cut_off_mid_campaign_loses_nothing_and_the_other_finishes_with_one_beat(
    session: Session,
    db_url: str,
    sink: SmtpSink,
    hosts: list[netns.Host],
    redis_db: redis.Redis,
    tmp_path: Path,
) -> None:
    build_campaign(session, N)
    beats = {}
    for host in hosts:
        env = _env(host, db_url, sink, tmp_path)
        host.run(
            [CELERY, "-A", "worker.celery_app", "worker", "-Q", "sending,scheduling", "-P",
             "prefork", "-c", str(CONCURRENCY), "--without-heartbeat", "--without-gossip",
             "--without-mingle", "-l", "INFO", "-n", f"{host.name}@%h"],
            env, tmp_path / f"{host.name}-worker.log", REPO,
        )  # fmt: skip
        beat = host.run(
            [CELERY, "-A", "worker.celery_app", "beat", "-s", str(tmp_path / f"{host.name}.db"),
             "-l", "INFO"],
            env, tmp_path / f"{host.name}-beat.log", REPO,
        )  # fmt: skip
        beats[beat.pid] = host
    holder = wait_until(lambda: redis_db.get(BEAT_LOCK_KEY), 60, "a beat leading")
    leader = beats[int(holder.decode().split(":")[1])]
    other = next(h for h in hosts if h is not leader)
    wait_until(lambda: len(sink.messages()) >= N // 3, 90, "a third of the campaign sent")
    leader.cut()
    cut_at = len(sink.messages())
    assert cut_at < N, "the campaign finished before the cut"
    # The other host takes beat over and finishes everything.
    wait_until(lambda: _sent(session) == N, 120, f"all {N} recorded sent by {other.name}")
    new_holder = redis_db.get(BEAT_LOCK_KEY)
    assert new_holder is not None and beats[int(new_holder.decode().split(":")[1])] is other
    messages = sink.messages()
    copies = Counter(m["rcpt_tos"][0] for m in messages)
    ids: dict[str, set[str]] = {}
    for m in messages:
        ids.setdefault(m["rcpt_tos"][0], set()).add(m["message_id"])
    assert len(copies) == N  # nothing lost
    assert max(copies.values()) <= 2 and all(len(v) == 1 for v in ids.values())
    assert sum(copies.values()) - N <= CONCURRENCY  # at most the messages in flight when cut
    # Exactly one beat at any time: the cut leader stood down before the other took over.
    timeline = sorted(
        (when, host.name, what)
        for host in hosts
        for when, what in _leadership(tmp_path / f"{host.name}-beat.log")
    )
    leading: set[str] = set()
    for _when, name, what in timeline:
        if what == "leading":
            leading.add(name)
        else:
            leading.discard(name)
        assert len(leading) <= 1, timeline
    assert leading == {other.name}, timeline

"""End-to-end fixtures: the seed campaign run by real processes on real services.

Celery worker and beat processes on Redis (this area's own DB), PostgreSQL, an aiosmtpd SMTP
sink and a Dovecot IMAP mailbox; the `outreach` command run as a person runs it.
"""

from __future__ import annotations

import os
import subprocess
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import redis
import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session
from support.celery_processes import REDIS_URL, REPO, Processes
from support.dovecot import Dovecot, start_dovecot
from support.smtp_sink import SmtpSink

from worker.models import (
    Campaign,
    Contact,
    InboundMessage,
    Invitation,
    OutboundMessage,
    ReviewItem,
    Signature,
)

SEED_DIR = REPO / "config" / "campaigns"
SLUG = "icc-2024"
OUTREACH = str(REPO / ".venv" / "bin" / "outreach")
AUTHSERV_ID = "mx.hrn.example"
MINISTRY = "minister@mofa.example"
COORDINATORS = ("coordinator@hrn.example", "tokyo@hrw.example")

# Four NGOs: two sign (one asks for another listed name), one declines, one never answers.
GREEN = "info@green.example"
KYOTO = "office@kyoto-peace.example"
FOREST = "contact@forest-watch.example"
OSAKA = "info@osaka-ywca.example"
_ORGS = (
    "green,Green Action Japan,グリーン・アクション,ぐりーんあくしょん,en,info@green.example,Maria,"
    "green.example",
    "kyoto,Kyoto Peace Network,京都平和ネットワーク,きょうとへいわねっとわーく,ja,"
    "office@kyoto-peace.example,,kyoto-peace.example",
    "forest,Forest Watch,,,en,contact@forest-watch.example,Tom,forest-watch.example",
    "osaka-ywca,YWCA of Osaka,大阪YWCA,おおさかわいだぶりゅーしーえー,ja,info@osaka-ywca.example,,"
    "osaka-ywca.example",
)
CONTACTS_CSV = (
    "org_id,name_en,name_ja,reading,language,email,person_name,domains,timezone,coordinator\n"
    + "".join(f"{row},,no\n" for row in _ORGS)
)


def write_campaign(
    folder: Path,
    *,
    invite_at: datetime,
    deadline: datetime,
    requires_approval: bool,
    reminders: tuple[str, ...] = ("PT10M",),
) -> Path:
    """The seed campaign's files in `folder`, its schedule moved to the given times, no quiet
    hours (tests run at any hour); rewriting it later is how a coordinator edits the schedule."""
    folder.mkdir(parents=True, exist_ok=True)
    definition: dict[str, Any] = yaml.safe_load(
        (SEED_DIR / f"{SLUG}.yaml").read_text(encoding="utf-8")
    )
    for name in definition["letter"].values():
        target = folder / name
        if not target.exists():
            target.write_bytes((SEED_DIR / name).read_bytes())
    tz = ZoneInfo(definition["timezone"])
    definition["schedule"] = {
        "invite_at": invite_at.astimezone(tz).replace(microsecond=0).isoformat(),
        "deadline": deadline.astimezone(tz).replace(microsecond=0).isoformat(),
        "reminders_before_deadline": list(reminders),
        "quiet_hours": {"start": "00:00", "end": "00:00"},  # equal: none
        "min_reminder_gap": "PT1S",
    }
    definition["requires_approval"] = requires_approval
    path = folder / f"{SLUG}.yaml"
    path.write_text(yaml.safe_dump(definition, allow_unicode=True, sort_keys=False), "utf-8")
    (folder / f"{SLUG}.contacts.csv").write_text(CONTACTS_CSV, encoding="utf-8")
    return path


@dataclass
class Run:
    """One end-to-end run: the processes, the servers, the database, and what to look at."""

    session: Session
    env: dict[str, str]
    sink: SmtpSink
    celery: Processes
    folder: Path

    def cli(self, *args: str) -> str:
        """`outreach ARGS` in its own process, as a person types it; fails with its output."""
        done = subprocess.run(
            [OUTREACH, *args],
            cwd=REPO,
            env={**self.env, "COLUMNS": "200"},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        output = f"{done.stdout}{done.stderr}"
        assert done.returncode == 0, f"`outreach {' '.join(args)}` failed:\n{output}"
        return done.stdout

    def campaign(self) -> Campaign:
        self.session.rollback()  # a fresh look at what the processes committed
        return self.session.scalars(select(Campaign).where(Campaign.slug == SLUG)).one()

    def invitation(self, address: str) -> Invitation:
        self.session.rollback()  # a fresh look at what the processes committed
        return self.session.scalars(
            select(Invitation)
            .join(Contact, Contact.id == Invitation.contact_id)
            .where(Contact.email == address)
        ).one()

    def rows(self, kind: str | None = None) -> list[OutboundMessage]:
        self.session.rollback()  # a fresh look at what the processes committed
        query = select(OutboundMessage).order_by(OutboundMessage.id)
        if kind is not None:
            query = query.where(OutboundMessage.kind == kind)
        return list(self.session.scalars(query))

    def received(self) -> list[dict[str, Any]]:
        """What reached the SMTP server, each with the kind of the outbox row it came from."""
        kinds = {r.message_id: r.kind for r in self.rows()}
        return [{**m, "kind": kinds.get(m["message_id"])} for m in self.sink.messages()]

    def received_by(self, kind: str) -> list[str]:
        """The first recipient of every message of this kind the SMTP server accepted."""
        return sorted(m["rcpt_tos"][0] for m in self.received() if m["kind"] == kind)

    def to_ministry(self) -> list[dict[str, Any]]:
        return [m for m in self.sink.messages() if MINISTRY in m["rcpt_tos"]]

    def captured(self, kind: str, address: str) -> bytes:
        """The one message of this kind the SMTP server accepted for this address."""
        found = [m for m in self.received() if m["kind"] == kind and m["rcpt_tos"][0] == address]
        assert len(found) == 1, f"{len(found)} {kind} messages to {address}\n{self.state()}"
        return self.sink.raw(found[0])

    def state(self) -> str:
        """Everything worth seeing when a wait times out."""
        self.session.rollback()  # a fresh look at what the processes committed
        lines = []
        for c in self.session.scalars(select(Campaign)):
            lines.append(f"campaign {c.slug}: {c.state} deadline={c.deadline.isoformat()}")
        for inv in self.session.scalars(select(Invitation).order_by(Invitation.id)):
            lines.append(
                f"  invitation {inv.id} {inv.contact.email}: {inv.state}"
                f" reminders={inv.reminders_sent}"
            )
        for row in self.rows():
            lines.append(
                f"  outbox {row.id} {row.kind} {row.state} to={row.recipients} "
                f"attempts={row.attempts} reply={row.last_smtp_reply!r}"
            )
        for msg in self.session.scalars(select(InboundMessage).order_by(InboundMessage.id)):
            lines.append(
                f"  inbound {msg.id} from={msg.from_addr} {msg.state} intent={msg.intent} "
                f"error={msg.error!r}"
            )
        for item in self.session.scalars(select(ReviewItem).order_by(ReviewItem.id)):
            lines.append(f"  review {item.id} {item.state}: {item.reason[:160]}")
        for sig in self.session.scalars(select(Signature).order_by(Signature.id)):
            lines.append(f"  signature {sig.id} org={sig.organisation_id} {sig.state}")
        counts = Counter((m["kind"], m["rcpt_tos"][0]) for m in self.received())
        lines.append(f"  SMTP sink: {dict(counts)}; holding: {self.sink.holding()}")
        self.session.rollback()
        return "\n".join(lines) + "\n" + self.celery.logs()


@pytest.fixture(autouse=True, scope="session")
def _broker_is_test_redis() -> None:
    """Anything published from the test process goes to this area's Redis DB."""
    from worker.celery_app import app

    app.conf.broker_url = REDIS_URL
    app.conf.broker_transport_options = {"visibility_timeout": 3600}


@pytest.fixture
def redis_db() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    yield client
    client.flushdb()


@pytest.fixture
def sink(tmp_path: Path) -> Iterator[SmtpSink]:
    server = SmtpSink(tmp_path / "sink").start()
    yield server
    server.stop()


@pytest.fixture
def dovecot(tmp_path: Path) -> Iterator[Dovecot]:
    server = start_dovecot(tmp_path / "dovecot")
    try:
        yield server
    finally:
        server.stop()


def service_env(
    env: dict[str, str], sink: SmtpSink, imap_url: str = "", smtp_url: str = ""
) -> dict[str, str]:
    """Environment of every process of the run (worker, beat, the `outreach` commands); mail
    goes to the sink, or to `smtp_url` (a relay in front of the sink) when one is given."""
    return {
        **os.environ,
        **env,
        "OUTREACH_BROKER_URL": REDIS_URL,
        "OUTREACH_REDIS_URL": REDIS_URL,
        "OUTREACH_SMTP_URL": smtp_url or sink.url,
        "OUTREACH_IMAP_URL": imap_url,
        "OUTREACH_IMAP_POLL_SECONDS": "1",
        "OUTREACH_AUTHSERV_ID": AUTHSERV_ID,
        "OUTREACH_SMTP_RATE_PER_MINUTE": "600000",
        "OUTREACH_SCAN_INTERVAL_SECONDS": "0.5",
        "OUTREACH_OUTBOX_LEASE_SECONDS": "4",
        "OUTREACH_DISPATCH_WINDOW_SECONDS": "5",
        "OUTREACH_OUTBOX_RETRY_BASE_SECONDS": "0.3",
        "OUTREACH_LOG_JSON": "false",
        "PYTHONPATH": str(REPO),
    }


def run_for(
    session: Session, env: dict[str, str], sink: SmtpSink, tmp_path: Path, imap_url: str = "",
    smtp_url: str = "",
) -> Iterator[Run]:
    processes = Processes(service_env(env, sink, imap_url, smtp_url), tmp_path)
    try:
        yield Run(session, processes.env, sink, processes, tmp_path / "campaign")
    finally:
        processes.stop_all()


@pytest.fixture
def run(
    session: Session,
    env: dict[str, str],
    sink: SmtpSink,
    dovecot: Dovecot,
    redis_db: redis.Redis,
    tmp_path: Path,
) -> Iterator[Run]:
    """Processes reading replies from the Dovecot mailbox."""
    yield from run_for(session, env, sink, tmp_path, dovecot.url)


@pytest.fixture
def run_without_mailbox(
    session: Session, env: dict[str, str], sink: SmtpSink, redis_db: redis.Redis, tmp_path: Path
) -> Iterator[Run]:
    yield from run_for(session, env, sink, tmp_path)

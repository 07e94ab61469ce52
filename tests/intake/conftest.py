"""Intake fixtures: the seed campaign with a few NGOs invited, reply builders, a real Dovecot."""

from __future__ import annotations

import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from imapclient import IMAPClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from support import replies
from support.dovecot import Dovecot, start_dovecot

from worker.actions.import_contacts import import_contacts
from worker.actions.ingest import ingest
from worker.actions.load_campaign import load_campaign
from worker.actions.outbox import queue_email
from worker.actions.process_reply import Outcome, process_reply
from worker.actions.publisher import install_publisher
from worker.core.states import CampaignState, InvitationState
from worker.db import session_factory
from worker.mail.outgoing import prepare_contact_email
from worker.models import Campaign, Contact, Invitation, OutboundMessage
from worker.settings import ImapTarget, get_settings

REPO = Path(__file__).resolve().parents[2]
SEED_DIR = REPO / "config" / "campaigns"
# Inside the seed campaign's window: invitations out 2024-05-21, deadline 2024-05-29 17:00 JST.
NOW = datetime(2024, 5, 24, 1, 0, tzinfo=UTC)
AFTER_DEADLINE = datetime(2024, 5, 30, 1, 0, tzinfo=UTC)
AUTHSERV_ID = "mx.hrn.example"

_HEADER = "org_id,name_en,name_ja,reading,language,email,person_name,domains,timezone,coordinator"
_GREEN = "green,Green Action Japan,グリーン・アクション,ぐりーんあくしょん,en"
_KYOTO = "kyoto,Kyoto Peace Network,京都平和ネットワーク,きょうとへいわねっとわーく,ja"
CONTACTS_CSV = "\n".join(
    [
        _HEADER,
        f"{_GREEN},info@green.example,,green.example,,no",
        f"{_GREEN},backup@green.example,,green.example,,no",
        "forest,Forest Watch,,,en,forestwatch@gmail.com,,,,no",
        f"{_KYOTO},office@kyoto-peace.example,,,,no",
        "",
    ]
)


@dataclass
class World:
    """The seed campaign, open, with one invitation sent to each NGO's first address."""

    session: Session
    campaign: Campaign
    secret: bytes

    def invitation(self, email_address: str) -> Invitation:
        found = self.session.scalars(
            select(Invitation)
            .join(Contact, Contact.id == Invitation.contact_id)
            .where(Contact.email == email_address)
        ).one()
        return found

    def sent(self, email_address: str, kind: str = "invitation") -> OutboundMessage:
        invitation = self.invitation(email_address)
        return self.session.scalars(
            select(OutboundMessage).where(
                OutboundMessage.invitation_id == invitation.id, OutboundMessage.kind == kind
            )
        ).one()

    def deliver(self, raw: bytes, *, now: datetime = NOW, source: str = "test") -> int | None:
        """Store a message as intake does (one committed transaction)."""
        new_id = ingest(self.session, raw, source=source, now=now)
        self.session.commit()
        return new_id

    def process(self, inbound_id: int, *, now: datetime = NOW) -> Outcome:
        outcome = process_reply(
            self.session, inbound_id, now=now, secret=self.secret, authserv_id=AUTHSERV_ID
        )
        self.session.commit()
        return outcome

    def receive(self, raw: bytes, *, now: datetime = NOW) -> Outcome:
        new_id = self.deliver(raw, now=now)
        assert new_id is not None, "the message was taken for a duplicate"
        return self.process(new_id, now=now)


def queue_invitation(
    session: Session, campaign: Campaign, invitation: Invitation, secret: bytes
) -> int:
    prepared = prepare_contact_email(campaign, invitation, "invitation", 0, secret=secret, now=NOW)
    row = queue_email(
        session,
        campaign_id=campaign.id,
        kind="invitation",
        sequence=0,
        prepared=prepared,
        contact_id=invitation.contact_id,
        invitation_id=invitation.id,
    )
    assert row is not None
    invitation.state = InvitationState.INVITED.value
    invitation.invited_at = NOW - timedelta(days=2)
    return row.id


@pytest.fixture
def world(session: Session, env: dict[str, str], tmp_path: Path) -> World:
    folder = tmp_path / "campaign"
    folder.mkdir()
    for path in SEED_DIR.glob("icc-2024*"):
        shutil.copy(path, folder / path.name)
    (folder / "contacts.csv").write_text(CONTACTS_CSV, encoding="utf-8")
    secret = get_settings().secret()
    load_campaign(session, folder / "icc-2024.yaml")
    import_contacts(session, "icc-2024", folder / "contacts.csv", secret=secret)
    campaign = session.scalars(select(Campaign).where(Campaign.slug == "icc-2024")).one()
    campaign.state = CampaignState.OPEN.value
    for invitation in session.scalars(
        select(Invitation).where(Invitation.campaign_id == campaign.id)
    ):
        queue_invitation(session, campaign, invitation, secret)
    session.commit()
    return World(session, campaign, secret)


def reply_to(original: bytes, body: str, *, date: datetime = NOW, **options: Any) -> bytes:
    """A reply as a mail client writes it (support.replies), dated inside the campaign."""
    return replies.reply_to(original, body, date=date, **options)


@pytest.fixture
def dovecot(tmp_path: Path) -> Iterator[Dovecot]:
    server = start_dovecot(tmp_path / "dovecot")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def sessions(env: dict[str, str]) -> sessionmaker[Session]:
    """The service's sessionmaker for the test database (what the poller is given)."""
    return session_factory(env["OUTREACH_DATABASE_URL"])


def imap_target(server: Dovecot, folder: str = "INBOX") -> ImapTarget:
    """The poller's view of a test Dovecot folder."""
    return ImapTarget(
        host="127.0.0.1",
        port=server.port,
        username=server.user,
        password=server.password,
        ssl=False,
        folder=folder,
    )


def append_to(server: Dovecot, *messages: bytes, folder: str = "INBOX") -> None:
    """Put messages in the mailbox as delivered mail (IMAP APPEND), in order."""
    with IMAPClient("127.0.0.1", port=server.port, ssl=False) as client:
        client.login(server.user, server.password)
        for raw in messages:
            client.append(folder, raw)


class RecordingPublisher:
    """The task queue's interface, recording what would be enqueued."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, list[Any]]] = []

    def send(self, task: str, args: Sequence[Any], *, queue: str | None = None) -> None:
        self.sent.append((task, list(args)))

    def ping(self, timeout: float) -> list[str]:
        return []


@pytest.fixture
def published() -> Iterator[RecordingPublisher]:
    recorder = RecordingPublisher()
    previous = install_publisher(recorder)
    try:
        yield recorder
    finally:
        if previous is not None:
            install_publisher(previous)

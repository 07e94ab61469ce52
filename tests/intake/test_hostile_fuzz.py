"""Hostile mail through the real LMTP listener and a real Dovecot mailbox, on PostgreSQL.

A few hundred messages from tests/support/hostile.py (bench/hostile.py runs 5,000): nothing
crashes, nothing is lost (stored, or quarantined in review), no forged message acts, no
signature without a genuine sender, no address marked without a proven bounce, the IMAP cursor
passes every bad message, and the genuine replies mixed in still sign.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from sqlalchemy.orm import Session, sessionmaker
from support.dkim_keys import dkim_key
from support.dovecot import Dovecot
from support.hostile import Generator, hostile_raw
from support.hostile_run import Counts, deliver_imap, deliver_lmtp, process_all, tally, targets_of

from worker.actions.ingest import ingest, ingest_many
from worker.core.classify import classify
from worker.core.decode import parse_headers
from worker.mail import authenticate
from worker.settings import ImapTarget

from .conftest import NOW, World

ON_POSTGRES = pytest.mark.parametrize(
    "db_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)


@pytest.fixture
def green_dkim(monkeypatch: pytest.MonkeyPatch) -> tuple[bytes, str, str]:
    """green.example signs its mail; the DNS lookup answers from this test's zone only."""
    private, zone = dkim_key("green.example")
    monkeypatch.setattr(authenticate, "txt_lookup", lambda name, timeout=5: zone.get(name))
    return private, "mail2024", "green.example"


def _assert_clean(counts: Counts) -> None:
    detail = f"{counts}\n" + "\n".join(counts.examples[:20])
    assert counts.crashes == 0, detail
    assert counts.lost == 0 and counts.left_stored == 0, detail
    assert counts.lmtp_not_250 == 0, detail
    assert counts.false_actions == 0 and counts.false_signatures == 0, detail
    assert counts.unproven_address_changes == 0, detail
    assert counts.imap_cursor_behind == 0, detail
    assert counts.genuine > 0 and counts.genuine_signed == counts.genuine, detail


@ON_POSTGRES
def test_hostile_mail_through_lmtp(
    world: World, sessions: sessionmaker[Session], green_dkim: tuple[bytes, str, str]
) -> None:
    generator = Generator(targets_of(world.session, world.campaign.id), seed=1,
                          sign_key=green_dkim)
    messages = list(generator.messages(100))
    counts = Counts()
    deliver_lmtp(sessions, messages, NOW, counts)
    actions = process_all(sessions, world.secret, NOW, counts)
    _assert_clean(tally(sessions, messages, actions, counts))


@ON_POSTGRES
def test_hostile_mail_through_imap_never_stops_the_poller(
    world: World, sessions: sessionmaker[Session], dovecot: Dovecot,
    green_dkim: tuple[bytes, str, str],
) -> None:
    generator = Generator(targets_of(world.session, world.campaign.id), seed=2,
                          sign_key=green_dkim)
    messages = list(generator.messages(100))
    target = ImapTarget(host="127.0.0.1", port=dovecot.port, username=dovecot.user,
                        password=dovecot.password, ssl=False)
    counts = Counts()
    refused = deliver_imap(sessions, messages, target, NOW, counts)
    actions = process_all(sessions, world.secret, NOW, counts)
    _assert_clean(tally(sessions, messages, actions, counts, refused))


@ON_POSTGRES
def test_nul_in_the_subject_is_stored_on_postgresql_and_intake_goes_on(world: World) -> None:
    for raw in (b"From: a@b.example\r\nSubject: a\x00b\r\n\r\nx\x00y\r\n",
                b"From: a@b.example\r\nSubject: =?utf-8?q?a=00b?=\r\n\r\nxy\r\n"):
        new_id = world.deliver(raw)
        assert new_id is not None
        outcome = world.process(new_id)
        assert outcome.state == "review"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=hostile_raw())
def test_any_header_and_body_never_raise_in_parsing_or_classification(raw: bytes) -> None:
    headers = parse_headers(raw)
    assert headers.from_address is None or "\n" not in headers.from_address
    classify(raw)


@ON_POSTGRES
@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(raw=hostile_raw())
def test_any_message_is_stored_on_postgresql(world: World, raw: bytes) -> None:
    with world.session.begin_nested():
        ingest(world.session, raw, source="test", now=NOW)
    world.session.rollback()


def test_lmtp_accepts_only_our_domains(world: World, sessions: sessionmaker[Session]) -> None:
    from support.dovecot import free_port
    from support.hostile_run import lmtp_deliver

    from worker.actions.mail_domains import domains_reader
    from worker.mail.lmtp import start_listener

    port = free_port()
    controller = start_listener(sessions, "127.0.0.1", port, store=ingest,
                                domains=domains_reader(sessions, "extra.example"))
    raw = b"From: a@b.example\r\nSubject: hi\r\n\r\nhello\r\n"
    try:
        ours = lmtp_deliver(port, raw, "signon@hrn.example")  # the seed campaign's reply_domain
        configured = lmtp_deliver(port, raw + b"2", "x@extra.example")
        foreign = lmtp_deliver(port, raw + b"3", "victim@elsewhere.example")
    finally:
        controller.stop()
    assert ours.startswith("250") and configured.startswith("250")
    assert foreign.startswith("550") and "elsewhere.example" in foreign


def test_lmtp_reads_our_domains_once_yet_accepts_a_new_campaign_at_once(
    world: World, sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every RCPT asks which domains are ours; the answer is reused, but a domain it does not
    hold is asked again before a 550, so a campaign loaded a moment ago is not refused."""
    from support.dovecot import free_port
    from support.hostile_run import lmtp_deliver

    from worker.actions import mail_domains
    from worker.mail.lmtp import start_listener

    reads: list[str] = []
    real = mail_domains.receiving_domains

    def counted(session: Session, configured: str = "") -> set[str]:
        reads.append(configured)
        return real(session, configured)

    monkeypatch.setattr(mail_domains, "receiving_domains", counted)
    port = free_port()
    controller = start_listener(sessions, "127.0.0.1", port, store=ingest,
                                domains=mail_domains.domains_reader(sessions))
    raw = b"From: a@b.example\r\nSubject: hi\r\n\r\nhello\r\n"
    try:
        first = [lmtp_deliver(port, raw + str(i).encode(), "signon@hrn.example")
                 for i in range(3)]
        reads_before = len(reads)
        definition = dict(world.campaign.definition)
        definition["sender"] = {**definition["sender"], "reply_domain": "new.example"}
        world.campaign.definition = definition
        world.session.commit()
        new = lmtp_deliver(port, raw + b"new", "signon@new.example")
    finally:
        controller.stop()
    assert all(answer.startswith("250") for answer in first)
    assert reads_before == 1
    assert new.startswith("250"), new
    assert len(reads) == 2


@ON_POSTGRES
def test_a_row_the_database_refuses_is_quarantined_and_lmtp_still_answers_250(
    world: World, sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fault injection: the first INSERT fails inside the database (a CHECK no message passes);
    the raw bytes still land in review with the reason, and the MTA hears 250."""
    from sqlalchemy import select, text
    from support.dovecot import free_port
    from support.hostile_run import lmtp_deliver

    from worker.mail.lmtp import start_listener
    from worker.models import InboundMessage, ReviewItem

    with sessions.begin() as session:
        session.execute(text(
            "ALTER TABLE inbound_message ADD CONSTRAINT ck_fault CHECK (subject IS NULL)"
        ))
    port = free_port()
    controller = start_listener(sessions, "127.0.0.1", port, store=ingest, store_many=ingest_many)
    try:
        answer = lmtp_deliver(port, b"From: a@b.example\r\nSubject: boom\r\n\r\nYes\r\n",
                              "signon@hrn.example")
    finally:
        controller.stop()
    assert answer.startswith("250"), answer
    world.session.rollback()
    row = world.session.scalars(select(InboundMessage)).one()
    assert row.state == "review" and (row.error or "").startswith("quarantined")
    assert b"Subject: boom" in row.raw
    assert "ck_fault" in world.session.scalars(select(ReviewItem.reason)).one()

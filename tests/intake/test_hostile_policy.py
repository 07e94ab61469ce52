"""Sender authentication (DKIM with keys made here), spoofed From, and bounce proof, end to end
on a real database: what may sign, what may mark an address bounced, what goes to a person."""

from __future__ import annotations

from collections.abc import Callable

import dkim
import pytest
from sqlalchemy import select
from support.dkim_keys import dkim_key

from worker.core.states import InboundState, InvitationState
from worker.mail import authenticate
from worker.models import (
    Contact,
    InboundMessage,
    OutboundMessage,
    ReviewItem,
    Signature,
    Suppression,
)

from .conftest import World, reply_to

SELECTOR = b"mail2024"
SIGNED_HEADERS = [b"from", b"to", b"subject", b"date", b"message-id", b"in-reply-to"]


@pytest.fixture
def green_key(monkeypatch: pytest.MonkeyPatch) -> Callable[[bytes], bytes]:
    """An RSA key for green.example, published through the DNS lookup dkimpy uses."""
    private, zone = dkim_key("green.example")

    def lookup(name: bytes, timeout: int = 5) -> bytes | None:
        return zone.get(name)

    monkeypatch.setattr(authenticate, "txt_lookup", lookup)

    def sign(raw: bytes) -> bytes:
        signature: bytes = dkim.sign(
            raw, SELECTOR, b"green.example", private, include_headers=SIGNED_HEADERS
        )
        return signature + raw

    return sign


def _signatures(world: World) -> list[Signature]:
    return list(world.session.scalars(select(Signature)))


def test_a_correctly_dkim_signed_reply_signs_and_the_evidence_says_so(
    world: World, green_key: Callable[[bytes], bytes]
) -> None:
    sent = world.sent("info@green.example")
    raw = green_key(reply_to(sent.raw or b"", "Yes, we sign!", sender="info@green.example"))
    outcome = world.receive(raw)
    assert outcome.action == "signed", outcome
    (signature,) = _signatures(world)
    assert "dkim-pass" in signature.decided_by
    assert "dkim=pass d=green.example s=mail2024" in (signature.auth_results or "")
    inbound = world.session.get(InboundMessage, outcome.inbound_id)
    assert inbound is not None and (inbound.classification or {})["authentication"] == "dkim-pass"


def test_a_tampered_dkim_signed_reply_goes_to_review_with_the_result(
    world: World, green_key: Callable[[bytes], bytes]
) -> None:
    sent = world.sent("info@green.example")
    answer = reply_to(sent.raw or b"", "No, we cannot sign.", sender="info@green.example")
    genuine = green_key(answer)
    tampered = genuine.replace(b"No, we cannot sign.", b"Yes, we sign!")
    assert tampered != genuine
    outcome = world.receive(tampered)
    assert outcome.state == InboundState.REVIEW.value
    assert _signatures(world) == []
    reason = world.session.scalars(select(ReviewItem.reason)).one()
    assert "dkim-fail" in reason and "body hash" in reason
    inbound = world.session.get(InboundMessage, outcome.inbound_id)
    assert inbound is not None and "dkim=fail d=green.example" in (inbound.auth_results or "")


def test_an_unsigned_reply_from_the_right_address_is_accepted_but_marked_unauthenticated(
    world: World,
) -> None:
    sent = world.sent("info@green.example")
    outcome = world.receive(reply_to(sent.raw or b"", "Yes, we sign!", sender="info@green.example"))
    assert outcome.action == "signed"
    assert "unauthenticated" in _signatures(world)[0].decided_by


def test_campaign_setting_review_sends_unsigned_replies_to_a_person(world: World) -> None:
    world.campaign.definition = {**world.campaign.definition, "unauthenticated_replies": "review"}
    world.session.commit()
    sent = world.sent("info@green.example")
    outcome = world.receive(reply_to(sent.raw or b"", "Yes, we sign!", sender="info@green.example"))
    assert outcome.state == InboundState.REVIEW.value and _signatures(world) == []


@pytest.mark.parametrize(
    "from_header",
    [
        "=?utf-8?q?info=40green=2Eexample?= <mallory@evil.example>",
        "info@green.example <mallory@evil.example>",
        "<info@green.example>@evil.example",
    ],
)
def test_stolen_token_with_a_disguised_from_never_signs(world: World, from_header: str) -> None:
    sent = world.sent("info@green.example")
    raw = reply_to(sent.raw or b"", "Yes, we sign!", sender="mallory@evil.example")
    raw = raw.replace(b"From: mallory@evil.example", b"From: " + from_header.encode())
    outcome = world.receive(raw)
    assert outcome.state == InboundState.REVIEW.value
    assert _signatures(world) == []
    assert "from-ambiguous" in world.session.scalars(select(ReviewItem.reason)).one()


def _fake_dsn(to: str, recipient: str, returned: str = "") -> bytes:
    return f"""From: Mail Delivery System <MAILER-DAEMON@mx.evil.example>
To: {to}
Subject: Undelivered Mail Returned to Sender
Message-ID: <fake.{recipient}@mx.evil.example>
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B"

--B
Content-Type: text/plain

Your message could not be delivered to {recipient}: 550 5.1.1 User unknown

--B
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.evil.example

Final-Recipient: rfc822; {recipient}
Action: failed
Status: 5.1.1

--B
Content-Type: text/rfc822-headers

From: HRN <signon@hrn.example>
To: {recipient}
Subject: Invitation
{returned}
--B--
""".replace("\n", "\r\n").encode()


def test_a_fake_delivery_report_naming_a_contact_changes_nothing_and_mails_nobody(
    world: World,
) -> None:
    outcome = world.receive(_fake_dsn("signon@hrn.example", "info@green.example"))
    assert outcome.state == InboundState.REVIEW.value
    contact = world.session.scalars(select(Contact).where(Contact.email == "info@green.example"))
    assert contact.one().address_state == "ok"
    assert world.session.scalars(select(Suppression)).all() == []
    assert world.invitation("info@green.example").state == InvitationState.INVITED.value
    kinds = world.session.scalars(select(OutboundMessage.kind)).all()
    assert "bounce_report" not in kinds
    assert "bounce without proof" in world.session.scalars(select(ReviewItem.reason)).one()


def test_a_fake_report_sent_to_a_reply_address_with_a_stolen_token_changes_nothing(
    world: World,
) -> None:
    token = world.invitation("info@green.example").token
    outcome = world.receive(_fake_dsn(f"signon+{token}@hrn.example", "info@green.example"))
    assert outcome.state == InboundState.REVIEW.value
    assert world.session.scalars(select(Suppression)).all() == []


def test_a_report_returning_our_message_id_is_proof(world: World) -> None:
    sent = world.sent("info@green.example")
    raw = _fake_dsn("signon@hrn.example", "info@green.example", f"Message-ID: {sent.message_id}")
    outcome = world.receive(raw)
    assert outcome.action.startswith("bounced"), outcome
    assert world.session.scalars(select(Suppression.email)).all() == ["info@green.example"]

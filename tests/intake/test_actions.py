"""Replies matched, verified and acted on, on a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import email
from email import policy
from email.message import EmailMessage

from sqlalchemy import select

from worker.core.audit_actions import AuditAction
from worker.core.states import InboundState, InvitationState, SignatureState
from worker.models import (
    Contact,
    InboundMessage,
    OutboundMessage,
    ReviewItem,
    Signature,
)

from .conftest import World, reply_to


def test_reply_yes_signs_with_evidence_and_queues_acknowledgement(world: World) -> None:
    invitation = world.sent("info@green.example")
    raw = reply_to(
        invitation.raw or b"",
        "Yes, we sign!\n\nMaria",
        sender="info@green.example",
        headers={"Authentication-Results": "mx.hrn.example; dmarc=pass header.from=green.example"},
    )
    outcome = world.receive(raw)
    assert outcome.action == "signed", outcome
    signature = world.session.scalars(select(Signature)).one()
    inbound = world.session.get(InboundMessage, outcome.inbound_id)
    assert inbound is not None and inbound.state == InboundState.PROCESSED.value
    assert signature.inbound_message_id == inbound.id
    assert signature.from_addr == "info@green.example"
    assert signature.received_at == inbound.received_at
    assert "dmarc=pass" in (signature.auth_results or "")
    assert signature.letter_hash == world.campaign.letter_hash
    assert "from-invited-address" in signature.decided_by
    assert world.invitation("info@green.example").state == InvitationState.SIGNED.value
    acks = world.session.scalars(
        select(OutboundMessage).where(OutboundMessage.kind == "acknowledgement")
    ).all()
    assert len(acks) == 1 and acks[0].recipients == ["info@green.example"]
    assert acks[0].id in outcome.outbox_ids


def _review_reasons(world: World) -> list[str]:
    return [r.reason for r in world.session.scalars(select(ReviewItem).order_by(ReviewItem.id))]


def test_spoofed_reply_from_unrelated_address_never_signs(world: World) -> None:
    invitation = world.sent("info@green.example")
    raw = reply_to(invitation.raw or b"", "Yes, we sign!", sender="attacker@evil.example")
    outcome = world.receive(raw)
    assert outcome.state == InboundState.REVIEW.value
    assert world.session.scalars(select(Signature)).all() == []
    assert world.invitation("info@green.example").state == InvitationState.INVITED.value
    assert "from-unrelated-address" in _review_reasons(world)[0]


def test_another_organisations_token_from_its_own_address_never_signs_the_other(
    world: World,
) -> None:
    # Kyoto answers, but through Green's reply address (a forwarded invitation).
    green = world.sent("info@green.example")
    raw = reply_to(green.raw or b"", "Yes, we sign!", sender="office@kyoto-peace.example")
    outcome = world.receive(raw)
    assert outcome.state == InboundState.REVIEW.value
    assert world.session.scalars(select(Signature)).all() == []
    assert world.invitation("office@kyoto-peace.example").state == InvitationState.INVITED.value


def test_dmarc_fail_from_our_server_goes_to_review_but_others_verdicts_are_ignored(
    world: World,
) -> None:
    green = world.sent("info@green.example")
    forged = reply_to(
        green.raw or b"",
        "Yes, we sign!",
        sender="info@green.example",
        headers={
            "Authentication-Results": "mx.hrn.example; dmarc=fail (p=reject) header.from=green"
        },
    )
    assert world.receive(forged).state == InboundState.REVIEW.value
    assert world.session.scalars(select(Signature)).all() == []
    kyoto = world.sent("office@kyoto-peace.example")
    other_server = reply_to(
        kyoto.raw or b"",
        "Yes, we sign!",
        sender="office@kyoto-peace.example",
        headers={"Authentication-Results": "relay.elsewhere.example; dmarc=fail"},
    )
    assert world.receive(other_server).action == "signed"


def test_colleague_at_the_organisation_domain_signs_but_not_from_a_public_webmail(
    world: World,
) -> None:
    green = world.sent("info@green.example")
    assert (
        world.receive(
            reply_to(green.raw or b"", "Yes, we sign!", sender="director@green.example")
        ).action
        == "signed"
    )
    forest = world.sent("forestwatch@gmail.com")
    outcome = world.receive(
        reply_to(forest.raw or b"", "Yes, we sign!", sender="someone.else@gmail.com")
    )
    assert outcome.state == InboundState.REVIEW.value
    assert world.invitation("forestwatch@gmail.com").state == InvitationState.INVITED.value


def test_decline_stops_reminders_and_decline_after_signing_withdraws(world: World) -> None:
    kyoto = world.sent("office@kyoto-peace.example")
    assert (
        world.receive(
            reply_to(
                kyoto.raw or b"",
                "We cannot sign this letter, sorry.",
                sender="office@kyoto-peace.example",
            )
        ).action
        == "declined"
    )
    assert world.invitation("office@kyoto-peace.example").state == InvitationState.DECLINED.value
    green = world.sent("info@green.example")
    world.receive(reply_to(green.raw or b"", "Yes, we sign!", sender="info@green.example"))
    outcome = world.receive(
        reply_to(
            green.raw or b"",
            "Sorry, we have to decline after all; we cannot sign.",
            sender="info@green.example",
        )
    )
    assert outcome.action == "withdrawn"
    signature = world.session.scalars(select(Signature)).one()
    assert signature.state == SignatureState.WITHDRAWN.value and signature.withdrawn_at is not None
    assert world.invitation("info@green.example").state == InvitationState.WITHDRAWN.value


def test_question_goes_to_review_and_is_forwarded_to_the_lead(world: World) -> None:
    kyoto = world.sent("office@kyoto-peace.example")
    raw = reply_to(
        kyoto.raw or b"",
        "Which other organisations have joined so far?",
        sender="office@kyoto-peace.example",
    )
    outcome = world.receive(raw)
    assert outcome.action == "question" and outcome.state == InboundState.REVIEW.value
    assert world.invitation("office@kyoto-peace.example").state == InvitationState.QUESTION.value
    forward = world.session.scalars(
        select(OutboundMessage).where(OutboundMessage.kind == "question_forward")
    ).one()
    assert forward.recipients == ["coordinator@hrn.example"]
    assert len(_review_reasons(world)) == 1


def test_unsubscribe_suppresses_the_address(world: World) -> None:
    from worker.models import Suppression

    forest = world.sent("forestwatch@gmail.com")
    outcome = world.receive(
        reply_to(
            forest.raw or b"",
            "Please remove us from your mailing list.",
            sender="forestwatch@gmail.com",
        )
    )
    assert outcome.action == "unsubscribed", outcome
    assert world.session.scalars(select(Suppression.email)).all() == ["forestwatch@gmail.com"]
    assert world.invitation("forestwatch@gmail.com").state == InvitationState.UNSUBSCRIBED.value


def _dsn(verp: str, recipient: str, status: str, action: str) -> bytes:
    """A Postfix-style RFC 3464 report, sent to the VERP envelope sender of our message."""
    failed = action == "failed"
    subject = (
        "Undelivered Mail Returned to Sender" if failed else "Delayed Mail (still being retried)"
    )
    code = "550 5.1.1 User unknown" if failed else "451 4.4.1 try later"
    return f"""From: Mail Delivery System <MAILER-DAEMON@mx.green.example>
To: {verp}
Subject: {subject}
Message-ID: <dsn.{status}.{recipient}@mx.green.example>
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="BOUNDARY"

--BOUNDARY
Content-Type: text/plain; charset=us-ascii

This is the mail system at host mx.green.example.
Your message could not be delivered to {recipient}: {code}

--BOUNDARY
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.green.example

Final-Recipient: rfc822; {recipient}
Action: {action}
Status: {status}
Diagnostic-Code: smtp; {code}

--BOUNDARY--
""".replace("\n", "\r\n").encode()


def test_permanent_bounce_to_verp_address_marks_that_contact_and_invites_the_next(
    world: World,
) -> None:
    sent = world.sent("info@green.example")
    outcome = world.receive(_dsn(sent.envelope_from, "info@green.example", "5.1.1", "failed"))
    assert outcome.action.startswith("bounced"), outcome
    contact = world.session.scalars(
        select(Contact).where(Contact.email == "info@green.example")
    ).one()
    assert contact.address_state == "bounced"
    old = world.invitation("info@green.example")
    assert old.state == InvitationState.REPLACED.value
    new = world.invitation("backup@green.example")
    assert new.state == InvitationState.PENDING.value and new.token != old.token
    others = world.session.scalars(
        select(Contact).where(
            Contact.email != "info@green.example", Contact.email != "backup@green.example"
        )
    )
    assert all(c.address_state == "ok" for c in others)
    report = world.session.scalars(
        select(OutboundMessage).where(OutboundMessage.kind == "bounce_report")
    ).one()
    assert report.recipients == ["coordinator@hrn.example"]


def test_transient_bounce_only_defers_the_address(world: World) -> None:
    sent = world.sent("office@kyoto-peace.example")
    outcome = world.receive(
        _dsn(sent.envelope_from, "office@kyoto-peace.example", "4.4.1", "delayed")
    )
    assert outcome.action == "deferred", outcome
    contact = world.session.scalars(
        select(Contact).where(Contact.email == "office@kyoto-peace.example")
    ).one()
    assert contact.address_state == "deferred"
    assert world.invitation("office@kyoto-peace.example").state == InvitationState.INVITED.value


def test_out_of_office_with_return_date_delays_the_next_reminder(world: World) -> None:
    sent = world.sent("office@kyoto-peace.example")
    raw = reply_to(
        sent.raw or b"",
        "I am out of the office and will be back on 27 May. I have limited access to email.",
        sender="office@kyoto-peace.example",
        quote=False,
        headers={"Auto-Submitted": "auto-replied", "Subject": "Out of Office"},
    )
    outcome = world.receive(raw)
    assert outcome.action.startswith("auto-reply"), outcome
    invitation = world.invitation("office@kyoto-peace.example")
    assert invitation.state == InvitationState.INVITED.value
    assert invitation.remind_not_before is not None
    assert invitation.remind_not_before.date().isoformat() == "2024-05-27"


def test_reply_to_acknowledgement_renames_then_withdraws(world: World) -> None:
    green = world.sent("info@green.example")
    world.receive(reply_to(green.raw or b"", "Yes, we sign!", sender="info@green.example"))
    ack = world.sent("info@green.example", "acknowledgement")
    renamed = world.receive(
        reply_to(
            ack.raw or b"",
            "Yes, we sign. Please list us as: Green Action Japan (GAJ)",
            sender="info@green.example",
        )
    )
    assert renamed.action == "renamed", renamed
    signature = world.session.scalars(select(Signature)).one()
    assert signature.listed_name_en == "Green Action Japan (GAJ)"
    withdrawn = world.receive(
        reply_to(
            ack.raw or b"",
            "We withdraw our signature, please remove our name.",
            sender="info@green.example",
        )
    )
    assert withdrawn.action == "withdrawn", withdrawn
    assert signature.state == SignatureState.WITHDRAWN.value


def test_japanese_torisage_to_acknowledgement_withdraws(world: World) -> None:
    kyoto = world.sent("office@kyoto-peace.example")
    world.receive(reply_to(kyoto.raw or b"", "賛同します。", sender="office@kyoto-peace.example"))
    ack = world.sent("office@kyoto-peace.example", "acknowledgement")
    outcome = world.receive(
        reply_to(
            ack.raw or b"",
            "申し訳ありませんが、賛同を取り下げさせてください。",
            sender="office@kyoto-peace.example",
        )
    )
    assert outcome.action == "withdrawn", outcome
    assert world.session.scalars(select(Signature)).one().state == SignatureState.WITHDRAWN.value


def test_late_signer_before_approval_is_held_and_told_once_the_final_outcome(
    world: World,
) -> None:
    from worker.actions.final_letter import queue_late_outcomes

    from .conftest import AFTER_DEADLINE

    world.campaign.state = "closing"  # the seed campaign requires approval: the lead may add it
    world.session.commit()
    kyoto = world.sent("office@kyoto-peace.example")
    outcome = world.receive(
        reply_to(
            kyoto.raw or b"",
            "Yes, we sign!",
            sender="office@kyoto-peace.example",
            date=AFTER_DEADLINE,
        ),
        now=AFTER_DEADLINE,
    )
    assert outcome.state == InboundState.REVIEW.value
    inbound = world.session.get(InboundMessage, outcome.inbound_id)
    assert inbound is not None and inbound.is_late
    assert world.session.scalars(select(Signature)).all() == []

    def late_replies() -> list[OutboundMessage]:
        return list(world.session.scalars(
            select(OutboundMessage).where(OutboundMessage.kind == "late_reply")
        ))  # fmt: skip

    assert late_replies() == []  # nothing yet: never "cannot add" and then "listed"
    world.campaign.state = "delivered"  # the lead did not add it; the letter went
    world.campaign.delivered_at = AFTER_DEADLINE
    queue_late_outcomes(world.session, world.campaign, now=AFTER_DEADLINE)
    queue_late_outcomes(world.session, world.campaign, now=AFTER_DEADLINE)
    world.session.commit()
    (late,) = late_replies()
    assert late.recipients == ["office@kyoto-peace.example"]
    message = email.message_from_bytes(late.raw or b"", policy=policy.default)
    assert isinstance(message, EmailMessage)
    body = message.get_body(("plain",))
    assert body is not None and "すでに提出いたしました" in body.get_content()  # the outcome


def test_same_message_twice_counts_once(world: World) -> None:
    green = world.sent("info@green.example")
    raw = reply_to(green.raw or b"", "Yes, we sign!", sender="info@green.example")
    first = world.deliver(raw)
    assert world.deliver(raw) is None
    # the same reply through another path, with a trace header added: same Message-ID
    assert world.deliver(b"Received: from relay.example by mx.hrn.example;\r\n" + raw) is None
    assert first is not None
    world.process(first)
    assert world.process(first).action == "already-processed"
    assert len(world.session.scalars(select(Signature)).all()) == 1
    assert (
        len(
            world.session.scalars(
                select(OutboundMessage).where(OutboundMessage.kind == "acknowledgement")
            ).all()
        )
        == 1
    )


def test_garbage_is_stored_and_goes_to_review(world: World) -> None:
    outcome = world.receive(b"\x00\xff\xfe garbage \r\n\r\n\x1b$B\x80\x80")
    assert outcome.state == InboundState.REVIEW.value
    assert world.session.get(InboundMessage, outcome.inbound_id) is not None


def test_review_resolve_sign_records_signature_decided_by_the_lead(world: World) -> None:
    from worker.cli.review import resolve_item

    from .conftest import NOW

    green = world.sent("info@green.example")
    outcome = world.receive(
        reply_to(green.raw or b"", "Yes, we sign!", sender="attacker@evil.example")
    )
    item = world.session.scalars(select(ReviewItem)).one()
    resolve_item(
        world.session,
        item,
        outcome="sign",
        name="Green Action",
        by="Aiko",
        invitation_id=None,
        note="phoned them",
        secret=world.secret,
        now=NOW,
    )
    world.session.commit()
    signature = world.session.scalars(select(Signature)).one()
    assert signature.decided_by == "review:Aiko" and signature.listed_name_en == "Green Action"
    assert item.state == "resolved" and item.resolved_by == "Aiko"
    from worker.models import AuditLog

    assert world.session.scalars(
        select(AuditLog).where(AuditLog.action == AuditAction.RESOLVED_SIGN)
    ).one()
    assert (
        world.session.get(InboundMessage, outcome.inbound_id).state == InboundState.PROCESSED.value
    )  # type: ignore[union-attr]

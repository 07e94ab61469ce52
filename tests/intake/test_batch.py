"""Stored replies processed as a batch (one transaction, lookups read up front) act exactly as
when processed one at a time: same outcomes, in arrival order, on a real database."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event, select

from worker.actions import intake
from worker.actions.intake import enqueue, process_batch, process_now
from worker.core.states import InboundState, InvitationState, SignatureState
from worker.db import get_engine, session_factory
from worker.mail.outgoing import prepare_contact_email
from worker.models import AuditLog, InboundMessage, OutboundMessage, Signature

from .conftest import NOW, RecordingPublisher, World, reply_to

GREEN, KYOTO, FOREST = "info@green.example", "office@kyoto-peace.example", "forestwatch@gmail.com"


def _process(ids: list[int], mode: str) -> list[str]:
    if mode == "batch":
        return [outcome.action for outcome in process_batch(ids, now=NOW)]
    return [process_now(inbound_id, now=NOW).action for inbound_id in ids]


@pytest.mark.parametrize("mode", ["one-by-one", "batch"])
def test_batch_acts_like_one_at_a_time_in_arrival_order(
    world: World, published: RecordingPublisher, mode: str
) -> None:
    """Green signs, and in the same batch answers our acknowledgement of that signature (queued
    by the batch itself, matched by its Message-ID alone) asking to be removed: the removal
    sees the signature. Kyoto asks a question, Forest declines, a stranger is unmatched."""
    first = world.deliver(reply_to(world.sent(GREEN).raw or b"", "Yes, we sign.", sender=GREEN))
    assert first is not None
    invitation = world.invitation(GREEN)
    ack = prepare_contact_email(
        world.campaign, invitation, "acknowledgement", first, secret=world.secret, now=NOW
    )
    removal = reply_to(
        ack.raw,
        "Please remove us from the list of signatories.",
        sender=GREEN,
        to="signon@hrn.example",
    )  # no token: only In-Reply-To
    question = reply_to(
        world.sent(KYOTO).raw or b"", "Could you tell us who else signs?", sender=KYOTO
    )
    decline = reply_to(
        world.sent(FOREST).raw or b"", "We will not sign this letter.", sender=FOREST
    )
    stranger = reply_to(
        world.sent(FOREST).raw or b"",
        "Yes, we sign.",
        sender="someone@elsewhere.example",
        to="signon@hrn.example",
    )
    ids = [first] + [world.deliver(raw) for raw in (removal, question, decline, stranger)]
    assert None not in ids
    world.session.commit()

    actions = _process([i for i in ids if i is not None], mode)

    assert actions == ["signed", "withdrawn", "question", "declined", "review"]
    world.session.expire_all()
    inbound = {row.id: row for row in world.session.scalars(select(InboundMessage))}
    assert inbound[ids[1] or 0].match_method == "in-reply-to"
    assert [inbound[i or 0].state for i in ids] == [
        InboundState.PROCESSED.value,
        InboundState.PROCESSED.value,
        InboundState.REVIEW.value,
        InboundState.PROCESSED.value,
        InboundState.REVIEW.value,
    ]
    signature = world.session.scalars(select(Signature)).one()
    assert signature.state == SignatureState.WITHDRAWN.value
    assert world.invitation(GREEN).state == InvitationState.WITHDRAWN.value
    assert world.invitation(FOREST).state == InvitationState.DECLINED.value
    acks = world.session.scalars(
        select(OutboundMessage).where(OutboundMessage.kind == "acknowledgement")
    ).all()
    assert [a.message_id for a in acks] == [ack.message_id]
    answers = world.session.scalars(
        select(OutboundMessage.id).where(OutboundMessage.kind != "invitation")
    ).all()
    assert len(answers) == 2  # the acknowledgement and the question forwarded to the lead
    assert sorted(i for _, args in published.sent for i in args[0]) == sorted(answers)


def test_a_failing_message_costs_its_batch_neighbours_nothing(
    world: World, published: RecordingPublisher, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The batch rolls back and each message is processed alone; the bad one's failure is
    counted (and reaches review after MAX_ATTEMPTS), the others act once."""
    good = world.deliver(reply_to(world.sent(GREEN).raw or b"", "Yes, we sign.", sender=GREEN))
    bad = world.deliver(reply_to(world.sent(FOREST).raw or b"", "Yes, we sign.", sender=FOREST))
    assert good is not None and bad is not None
    real = intake.process_reply

    def failing(session: Any, inbound_id: int, **kw: Any) -> Any:
        if inbound_id == bad:
            raise RuntimeError("boom")
        return real(session, inbound_id, **kw)

    monkeypatch.setattr(intake, "process_reply", failing)
    outcomes = process_batch([bad, good], now=NOW)

    assert [(o.inbound_id, o.action) for o in outcomes] == [(good, "signed")]
    world.session.expire_all()
    failed = world.session.get(InboundMessage, bad)
    assert failed is not None and failed.state == InboundState.STORED.value
    assert (failed.error or "").startswith("processing failed (1): RuntimeError: boom")
    assert len(world.session.scalars(select(Signature)).all()) == 1


def test_stored_messages_are_handed_to_the_queue_in_batches(
    published: RecordingPublisher,
) -> None:
    enqueue(list(range(1, 121)), batch_size=50)
    assert [(task, len(args[0])) for task, args in published.sent] == [
        ("intake.process_batch", 50),
        ("intake.process_batch", 50),
        ("intake.process_batch", 20),
    ]


def _signers(world: World) -> list[int]:
    ids = [
        world.deliver(reply_to(world.sent(a).raw or b"", "Yes, we sign.", sender=a))
        for a in (GREEN, KYOTO, FOREST)
    ]
    world.session.commit()
    assert None not in ids
    return [i for i in ids if i is not None]


def test_a_task_takes_the_waiting_messages_along(
    world: World, published: RecordingPublisher
) -> None:
    """The LMTP listener queues one task per delivered message: the first task to run acts on
    every waiting message in one batch, and the tasks of the others find them done."""
    ids = _signers(world)

    first = process_batch([ids[1]], now=NOW, fill=True)
    later = process_batch([ids[0]], now=NOW, fill=True)

    assert [(o.inbound_id, o.action) for o in first] == [(i, "signed") for i in ids]
    assert [(o.inbound_id, o.action) for o in later] == [(ids[0], "already-processed")]
    acks = world.session.scalars(
        select(OutboundMessage.id).where(OutboundMessage.kind == "acknowledgement")
    ).all()
    assert sorted(i for _, args in published.sent for i in args[0]) == sorted(acks)
    assert len(acks) == 3


def test_without_fill_a_batch_acts_only_on_its_own_messages(
    world: World, published: RecordingPublisher
) -> None:
    ids = _signers(world)

    outcomes = process_batch([ids[0]], now=NOW)

    assert [(o.inbound_id, o.action) for o in outcomes] == [(ids[0], "signed")]
    world.session.expire_all()
    states = [world.session.get(InboundMessage, i).state for i in ids]  # type: ignore[union-attr]
    assert states == ["processed", "stored", "stored"]


def test_a_task_leaves_the_messages_another_worker_holds(
    world: World, published: RecordingPublisher, db_url: str
) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("row locks: SQLite runs one writer at a time")
    ids = _signers(world)
    with session_factory(db_url)() as other, other.begin():
        other.get(InboundMessage, ids[2], with_for_update=True)  # another worker's batch
        own_held = process_batch([ids[2]], now=NOW, fill=True)  # not waited for
        outcomes = process_batch([ids[0]], now=NOW, fill=True)

    assert [(o.inbound_id, o.state) for o in own_held] == [(ids[2], "missing-or-held")]

    assert [(o.inbound_id, o.action) for o in outcomes] == [(ids[0], "signed"), (ids[1], "signed")]
    world.session.expire_all()
    held = world.session.get(InboundMessage, ids[2])
    assert held is not None and held.state == InboundState.STORED.value


def test_a_batch_writes_its_acknowledgements_in_one_insert(
    world: World, published: RecordingPublisher, db_url: str
) -> None:
    ids = _signers(world)
    statements: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(" ".join(statement.split()))

    engine = get_engine(db_url)
    event.listen(engine, "before_cursor_execute", note)
    try:
        outcomes = process_batch(ids, now=NOW)
    finally:
        event.remove(engine, "before_cursor_execute", note)

    assert [o.action for o in outcomes] == ["signed"] * 3
    outbox_inserts = [s for s in statements if s.startswith("INSERT INTO outbound_message")]
    signature_inserts = [s for s in statements if s.startswith("INSERT INTO signature")]
    assert len(outbox_inserts) == 1
    # SQLite's RETURNING gives no row order, so SQLAlchemy inserts ORM rows there one by one
    assert len(signature_inserts) == (1 if db_url.startswith("postgresql") else 3)
    # the organisations' signatures are read once, up front, not once per reply
    assert len([s for s in statements if s.startswith("SELECT signature")]) == 1
    assert len(published.sent) == 1 and len(published.sent[0][1][0]) == 3


@pytest.mark.parametrize("mode", ["one-by-one", "batch"])
def test_a_name_asked_later_in_the_same_batch_renames_the_new_signature(
    world: World, published: RecordingPublisher, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    """A colleague answers the forwarded invitation too, from the organisation's domain, with
    the name to print: the second reply finds the signature the first made earlier in the same
    batch (read up front, then kept by the batch), without failing over to one at a time."""
    invitation = world.sent(GREEN).raw or b""
    ids = [
        world.deliver(reply_to(invitation, "Yes, we sign.", sender=GREEN)),
        world.deliver(
            reply_to(
                invitation,
                'We sign. Please use the name "Green Action Japan".',
                sender="director@green.example",
            )
        ),
    ]
    world.session.commit()
    if mode == "batch":
        monkeypatch.setattr(intake, "process_now", lambda *a, **k: pytest.fail("fell back"))

    actions = _process([i for i in ids if i is not None], mode)

    assert actions == ["signed", "renamed"]
    world.session.expire_all()
    signature = world.session.scalars(select(Signature)).one()
    assert signature.state == SignatureState.ACTIVE.value
    assert signature.listed_name_en == "Green Action Japan"
    trail = world.session.scalars(
        select(AuditLog.action)
        .where(AuditLog.entity == "signature", AuditLog.entity_id == signature.id)
        .order_by(AuditLog.id)
    ).all()
    assert trail == ["signed", "renamed"]

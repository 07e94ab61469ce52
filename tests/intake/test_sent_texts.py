"""A reply is compared with the texts we sent. They are kept beside each outgoing email's bytes,
so intake no longer parses our own MIME. They must read exactly as the bytes do, and a row
queued before they were kept must still be read from its bytes."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, update

from worker.actions.outbox import queue_email
from worker.actions.reply_lookups import Lookups, texts_of
from worker.mail.outgoing import PreparedEmail, _prepared
from worker.mail.render import RenderedEmail
from worker.models import OutboundMessage

from .conftest import World, reply_to

SIGNER = "info@green.example"
KYOTO = "office@kyoto-peace.example"  # invited in Japanese


def test_every_queued_email_keeps_the_texts_its_bytes_read_back_as(world: World) -> None:
    for address, answer in ((SIGNER, "Yes, we sign."), (KYOTO, "賛同いたします。")):
        outcome = world.receive(reply_to(world.sent(address).raw or b"", answer, sender=address))
        assert outcome.action == "signed"
    rows = list(world.session.scalars(select(OutboundMessage)))
    kept = [row for row in rows if row.texts is not None]
    assert {row.kind for row in kept} >= {"invitation", "acknowledgement"}
    assert {row.language for row in kept} >= {"en", "ja"}
    for row in kept:
        assert row.texts == texts_of([row.raw]), (row.kind, row.language)


def test_a_row_without_texts_is_read_from_its_bytes_alike(world: World) -> None:
    invitation = world.invitation(SIGNER)
    kept = Lookups(world.session).sent_texts(invitation.id)
    world.session.execute(
        update(OutboundMessage)
        .where(OutboundMessage.invitation_id == invitation.id)
        .values(texts=None)
    )
    world.session.commit()
    assert kept and Lookups(world.session).sent_texts(invitation.id) == kept
    # and a reply quoting it is still read as the sender's own words only
    reply = reply_to(world.sent(SIGNER).raw or b"", "Yes, we sign.", sender=SIGNER)
    assert world.receive(reply).action == "signed"


def test_an_email_queued_without_texts_is_read_from_its_bytes(world: World) -> None:
    """An email with attachments keeps no texts: SQL NULL (not JSON null), so its bytes are
    fetched and read."""
    sent = world.sent(SIGNER)
    prepared = PreparedEmail(
        sent.envelope_from, tuple(sent.recipients), "<reminder.1.x@hrn.example>", sent.subject,
        "en", sent.raw or b"", texts=None,
    )  # fmt: skip
    queue_email(
        world.session,
        campaign_id=world.campaign.id,
        kind="reminder",
        sequence=1,
        prepared=prepared,
        contact_id=sent.contact_id,
        invitation_id=sent.invitation_id,
    )
    world.session.commit()
    assert (
        world.session.scalar(
            select(func.count())
            .select_from(OutboundMessage)
            .where(
                OutboundMessage.message_id == prepared.message_id, OutboundMessage.texts.is_(None)
            )
        )
        == 1
    )
    texts = Lookups(world.session).sent_texts(sent.invitation_id or 0)
    assert texts == texts_of([sent.raw, sent.raw]) and len(texts) == 2


_TEXT = st.lists(
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=20)
    | st.sampled_from(["\r\n", "\r", "\n", "賛同", "～", " ", "> ", ".", "--=_"]),
    max_size=30,
).map("".join)


@settings(max_examples=300, deadline=None)
@given(text=_TEXT, html=st.none() | _TEXT)
def test_the_kept_texts_read_as_the_bytes_for_any_text(text: str, html: str | None) -> None:
    prepared = _prepared(
        {"name": {"en": "Human Rights Now"}, "address": "signon@hrn.example"},
        "en",
        RenderedEmail("Invitation", text, html) if html is not None else _plain(text),
        "<invitation.1.tok@hrn.example>",
        datetime(2026, 12, 3, tzinfo=UTC),
        to=[("NGO", "info@ngo.example")],
        reply_to="signon+tok@hrn.example",
        headers={},
        envelope_from="bounce@hrn.example",
    )
    assert prepared.texts is not None
    assert list(prepared.texts) == texts_of([prepared.raw])


def _plain(text: str) -> RenderedEmail:
    """An email without an HTML part (`compose` writes text/plain alone when html is None)."""
    return RenderedEmail("Invitation", text, None)  # type: ignore[arg-type]

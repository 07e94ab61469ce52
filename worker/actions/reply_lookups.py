"""What processing a reply reads before it acts: asked one reply at a time, or once per batch.

`Lookups` asks the database for each reply (the stored row, our mail by Message-ID, the
invitations a token, our Message-IDs or the sender point to, the texts we sent). `Prefetched`
answers a batch of stored replies from a few IN queries made up front. Intake never changes
tokens, contacts or the outbox rows that exist, so a prefetched answer stays true for the
whole transaction, except where an earlier reply of the batch queued a new outbox row (an
acknowledgement, a late reply): questions about such a row's Message-ID or invitation are
asked again, so a batch reads exactly what its replies processed one by one would read.
Rows the batch holds unwritten (`outbox_buffer`) are written before such a question.

Acting reads two more things per reply, which a batch also reads once up front and keeps on
the session while it runs: the organisations' signature rows (`worker.signatures`) and which
addresses are suppressed (`suppression.index_suppressed`); the one place that writes each
keeps its index true.
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from collections.abc import Iterable, Sequence
from email.message import Message
from typing import Any

from sqlalchemy import case, event, null, select
from sqlalchemy.orm import ORMExecuteState, Session, joinedload

from worker.actions.outbox_buffer import current_buffer
from worker.actions.suppression import drop_suppressed_index, index_suppressed
from worker.core import matching
from worker.core.decode import MessageHeaders, headers_of, parse_message, part_text
from worker.core.tokens import find_tokens
from worker.models import Campaign, Contact, InboundMessage, Invitation, OutboundMessage
from worker.signatures import drop_index, index_signatures

OwnRow = tuple[str, dict[str, Any] | None]  # (outbox kind, the campaign's definition)
Parsed = tuple[Message, MessageHeaders]
_INVITATION_WITH = (joinedload(Invitation.contact), joinedload(Invitation.organisation))


def recipients(headers: MessageHeaders) -> dict[str, tuple[str, ...]]:
    """The reply's recipient headers, in the order matching reads them."""
    return {
        "delivered-to": headers.delivered_to,
        "x-original-to": headers.x_original_to,
        "to": headers.to,
        "cc": headers.cc,
    }


def reply_tokens(headers: MessageHeaders) -> list[str]:
    return find_tokens([a for values in recipients(headers).values() for a in values])


def referenced_ids(headers: MessageHeaders) -> list[str]:
    return [m for m in (headers.in_reply_to, *headers.references) if m]


# An outbox row's texts as the batch reads them: its stored `texts`, else its `raw` (which is
# fetched only for a row without texts).
SentRow = tuple[list[Any] | None, bytes | None]


def texts_of(raws: Iterable[bytes | None]) -> list[str]:
    """The text/plain parts of the emails we sent, in order."""
    texts: list[str] = []
    for raw in raws:
        if not raw:
            continue
        for part in parse_message(raw).walk():
            if part.get_content_type() == "text/plain":
                texts.append(part_text(part))
    return texts


def sent_texts_of(rows: Iterable[SentRow]) -> list[str]:
    """`texts_of` the emails we sent, read from their stored texts where they have them."""
    texts: list[str] = []
    for stored, raw in rows:
        if stored is not None:
            texts.extend(str(text) for text in stored)
        else:
            texts.extend(texts_of([raw]))
    return texts


def _sent_columns() -> tuple[Any, Any]:
    """The stored texts, and `raw` only where there are none (a row queued before them)."""
    raw = case((OutboundMessage.texts.is_(None), OutboundMessage.raw), else_=null())
    return OutboundMessage.texts, raw


class Lookups:
    """One query per question, for one reply."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def claim(self, inbound_id: int) -> InboundMessage | None:
        """The stored row, locked until the transaction ends."""
        return self.session.get(InboundMessage, inbound_id, with_for_update=True)

    def parsed(self, inbound: InboundMessage) -> Parsed:
        """The message and its decoded headers (raises on what cannot be parsed)."""
        msg = parse_message(inbound.raw)
        return msg, headers_of(msg)

    def own(self, message_id: str) -> OwnRow | None:
        """Our outgoing message with this Message-ID, with its campaign's definition."""
        row = self.session.execute(
            select(OutboundMessage.kind, Campaign.definition)
            .join(Campaign, Campaign.id == OutboundMessage.campaign_id)
            .where(OutboundMessage.message_id == message_id)
            .limit(1)
        ).first()
        return (row[0], row[1]) if row is not None else None

    def by_token(self, tokens: Sequence[str]) -> dict[str, int]:
        if not tokens:
            return {}
        rows = self.session.execute(
            select(Invitation.token, Invitation.id).where(Invitation.token.in_(tokens))
        )
        return dict(rows.tuples().all())

    def by_message_id(self, ids: Sequence[str]) -> dict[str, matching.OurMessage]:
        if not ids:
            return {}
        found: dict[str, matching.OurMessage] = {}
        for mid, inv_id, kind in self.session.execute(
            select(
                OutboundMessage.message_id, OutboundMessage.invitation_id, OutboundMessage.kind
            ).where(OutboundMessage.message_id.in_(ids), OutboundMessage.invitation_id.is_not(None))
        ).tuples():
            if inv_id is not None:
                found[mid] = matching.OurMessage(inv_id, kind)
        return found

    def by_sender(self, address: str) -> list[int]:
        return list(
            self.session.scalars(
                select(Invitation.id)
                .join(Contact, Contact.id == Invitation.contact_id)
                .where(Contact.email == address)
            )
        )

    def invitation(self, invitation_id: int) -> Invitation | None:
        """The invitation with its contact and organisation (verification reads both)."""
        return self.session.get(Invitation, invitation_id, options=_INVITATION_WITH)

    def sent_texts(self, invitation_id: int) -> list[str]:
        """The text parts of every email we sent (or queued) for this invitation."""
        return sent_texts_of(
            self.session.execute(
                select(*_sent_columns())
                .where(OutboundMessage.invitation_id == invitation_id)
                .order_by(OutboundMessage.id)
            ).tuples()
        )


class Prefetched(Lookups):
    """The answers for a batch of claimed rows, read with one query per kind of question.

    Use as a context manager: while open it watches the session for new outbox rows, and a
    question about one of them goes to the database (`Lookups`) instead of the prefetch.
    """

    def __init__(self, session: Session, rows: Sequence[InboundMessage]) -> None:
        super().__init__(session)
        self._rows = {row.id: row for row in rows}
        self._parsed: dict[int, Parsed] = {}
        for row in rows:
            # An unreadable one is parsed again by processing, which sends it to review.
            with contextlib.suppress(Exception):
                self._parsed[row.id] = Lookups.parsed(self, row)
        self._new_message_ids: set[str] = set()
        self._new_for_invitation: set[int] = set()
        self._unsure = False  # an outbox row of unknown Message-ID was queued: ask every time
        every = [headers for _, headers in self._parsed.values()]
        # What was asked up front; a question outside these sets goes to the database.
        self._own_asked = {h.message_id for h in every if h.message_id and h.from_address}
        self._tokens_asked = {t for h in every for t in reply_tokens(h)}
        self._refs_asked = {m for h in every for m in referenced_ids(h)}
        self._own = self._fetch_own(self._own_asked)
        self._tokens = super().by_token(sorted(self._tokens_asked))
        self._ours = super().by_message_id(sorted(self._refs_asked))
        self._senders = self._fetch_senders({h.from_address for h in every if h.from_address})
        candidates = {*self._tokens.values(), *(m.invitation_id for m in self._ours.values())}
        candidates.update(i for ids in self._senders.values() for i in ids)
        self._invitations = self._fetch_invitations(candidates)
        # What acting asks next, for every invitation a reply may match: whether the
        # organisation has signed, whether the address may be written to.
        index_signatures(
            session,
            {
                (inv.campaign_id, inv.organisation_id)
                for inv in self._invitations.values()
                if inv.organisation_id is not None
            },
        )
        index_suppressed(session, {inv.contact.email for inv in self._invitations.values()})
        self._sent = self._fetch_sent(candidates)
        # Held here: the session's identity map keeps only weak references, and processing
        # gets each reply's campaign by primary key (no query while it is held).
        campaign_ids = {inv.campaign_id for inv in self._invitations.values()}
        self._campaigns = (
            list(self.session.scalars(select(Campaign).where(Campaign.id.in_(campaign_ids))))
            if campaign_ids
            else []
        )

    # -- the batch's queries ---------------------------------------------------------------

    def _fetch_own(self, message_ids: set[str]) -> dict[str, OwnRow]:
        if not message_ids:
            return {}
        rows = self.session.execute(
            select(OutboundMessage.message_id, OutboundMessage.kind, Campaign.definition)
            .join(Campaign, Campaign.id == OutboundMessage.campaign_id)
            .where(OutboundMessage.message_id.in_(message_ids))
        ).tuples()
        return {mid: (kind, definition) for mid, kind, definition in rows}

    def _fetch_senders(self, addresses: set[str]) -> dict[str, list[int]]:
        found: dict[str, list[int]] = {address: [] for address in addresses}
        if addresses:
            for email, inv_id in self.session.execute(
                select(Contact.email, Invitation.id)
                .join(Contact, Contact.id == Invitation.contact_id)
                .where(Contact.email.in_(addresses))
                .order_by(Invitation.id)
            ).tuples():
                found[email].append(inv_id)
        return found

    def _fetch_invitations(self, ids: set[int]) -> dict[int, Invitation]:
        if not ids:
            return {}
        rows = self.session.scalars(
            select(Invitation).where(Invitation.id.in_(ids)).options(*_INVITATION_WITH)
        ).unique()
        return {inv.id: inv for inv in rows}

    def _fetch_sent(self, ids: set[int]) -> dict[int, list[SentRow]]:
        sent: dict[int, list[SentRow]] = defaultdict(list)
        if ids:
            for inv_id, texts, raw in self.session.execute(
                select(OutboundMessage.invitation_id, *_sent_columns())
                .where(OutboundMessage.invitation_id.in_(ids))
                .order_by(OutboundMessage.id)
            ).tuples():
                if inv_id is not None:
                    sent[inv_id].append((texts, raw))
        return sent

    # -- watching for rows the batch itself creates ------------------------------------------

    def __enter__(self) -> Prefetched:
        event.listen(self.session, "do_orm_execute", self._on_execute)
        event.listen(self.session, "pending_to_persistent", self._on_new)
        return self

    def __exit__(self, *exc: object) -> None:
        drop_index(self.session)
        drop_suppressed_index(self.session)
        event.remove(self.session, "do_orm_execute", self._on_execute)
        event.remove(self.session, "pending_to_persistent", self._on_new)

    def _on_execute(self, state: ORMExecuteState) -> None:
        table = getattr(state.statement, "table", None)
        if state.is_insert and table is OutboundMessage.__table__:
            params = state.parameters
            many = list(params) if isinstance(params, Sequence) else [params or {}]
            for values in many:
                if "message_id" not in values:  # rows not given as parameters: trust no answer
                    self._unsure = True
                self._note(values.get("message_id"), values.get("invitation_id"))

    def _on_new(self, _: Session, instance: object) -> None:
        if isinstance(instance, OutboundMessage):
            self._note(instance.message_id, instance.invitation_id)

    def _note(self, message_id: object, invitation_id: object) -> None:
        if isinstance(message_id, str):
            self._new_message_ids.add(message_id)
        if isinstance(invitation_id, int):
            self._new_for_invitation.add(invitation_id)

    # -- the answers -------------------------------------------------------------------------

    def claim(self, inbound_id: int) -> InboundMessage | None:
        row = self._rows.get(inbound_id)
        return row if row is not None else super().claim(inbound_id)

    def parsed(self, inbound: InboundMessage) -> Parsed:
        found = self._parsed.get(inbound.id)
        return found if found is not None else super().parsed(inbound)

    def _write_held(
        self, *, message_ids: Iterable[str] = (), invitation_id: int | None = None
    ) -> None:
        """A question about an outbox row the batch holds unwritten: write the held rows
        first (watching the INSERT notes them, so the question goes to the database)."""
        buffer = current_buffer(self.session)
        if buffer is not None and buffer.touches(
            message_ids=message_ids, invitation_id=invitation_id
        ):
            buffer.write()

    def own(self, message_id: str) -> OwnRow | None:
        self._write_held(message_ids=[message_id])
        if self._unsure or message_id in self._new_message_ids or message_id not in self._own_asked:
            return super().own(message_id)
        return self._own.get(message_id)

    def by_token(self, tokens: Sequence[str]) -> dict[str, int]:
        if not self._tokens_asked.issuperset(tokens):
            return super().by_token(tokens)
        return {t: self._tokens[t] for t in tokens if t in self._tokens}

    def by_message_id(self, ids: Sequence[str]) -> dict[str, matching.OurMessage]:
        self._write_held(message_ids=ids)
        if (
            self._unsure
            or not self._refs_asked.issuperset(ids)
            or self._new_message_ids.intersection(ids)
        ):
            return super().by_message_id(ids)
        return {m: self._ours[m] for m in ids if m in self._ours}

    def by_sender(self, address: str) -> list[int]:
        found = self._senders.get(address)
        return list(found) if found is not None else super().by_sender(address)

    def invitation(self, invitation_id: int) -> Invitation | None:
        found = self._invitations.get(invitation_id)
        return found if found is not None else super().invitation(invitation_id)

    def sent_texts(self, invitation_id: int) -> list[str]:
        self._write_held(invitation_id=invitation_id)
        if (
            self._unsure
            or invitation_id in self._new_for_invitation
            or invitation_id not in self._invitations
        ):
            return super().sent_texts(invitation_id)
        return sent_texts_of(self._sent.get(invitation_id, []))

"""Read models of the organisations table and of one organisation's whole mail thread."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from email.message import Message
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from worker.actions.overview import campaign_or_404
from worker.core.decode import html_to_text, parse_message, part_text
from worker.core.quotes import own_text
from worker.core.states import InvitationState
from worker.errors import NotFound
from worker.models import (
    Contact,
    InboundMessage,
    Invitation,
    Organisation,
    OutboundMessage,
    Signature,
)

INVITATION_STATES = tuple(state.value for state in InvitationState)  # the table's state filter
MAX_ROWS = 500  # a page never lists more organisations than this (search narrows it)


@dataclass(frozen=True)
class OrganisationRow:
    id: int
    key: str
    name_en: str | None
    name_ja: str | None
    language: str
    state: str  # the state of its current (latest) invitation, or "none"
    emails: tuple[str, ...]


@dataclass(frozen=True)
class ThreadEntry:
    """One message of a thread: `own` is the author's own words, `quoted` what they quoted."""

    at: datetime
    direction: str  # "out" | "in"
    kind: str  # outbox kind, or the classified intent of a reply
    subject: str
    address: str
    own: str
    quoted: str
    state: str
    reasons: tuple[str, ...] = ()
    deciding: str = ""  # the sentence that decided the classification (highlighted)

    @property
    def own_parts(self) -> tuple[str, str, str]:
        """`own` cut around the deciding sentence: (before, the sentence, after)."""
        return highlight(self.own, self.deciding)


@dataclass
class Thread:
    organisation: OrganisationRow
    signed_as: dict[str, str | None] = field(default_factory=dict)
    entries: list[ThreadEntry] = field(default_factory=list)


def deciding_text(reasons: tuple[str, ...]) -> str:
    """The evidence of the first rule that fired ("rule-name: evidence"), without the clip mark."""
    for reason in reasons:
        _, sep, evidence = reason.partition(": ")
        if sep and evidence.strip():
            return evidence.strip().rstrip("…").strip()
    return ""


def highlight(text: str, sentence: str) -> tuple[str, str, str]:
    """Find `sentence` in `text` (whitespace-insensitively); ("", "", text) when absent."""
    if not sentence:
        return text, "", ""
    import re

    pattern = r"\s+".join(re.escape(word) for word in sentence.split())
    found = re.search(pattern, text)
    if found is None:
        return text, "", ""
    return text[: found.start()], found.group(0), text[found.end() :]


def body_text(raw: bytes) -> str:
    """The message's readable text: text/plain if it has one, else its HTML as text."""
    msg = parse_message(raw)
    plain: str | None = None
    html: str | None = None
    for part in msg.walk():
        if not isinstance(part, Message) or part.is_multipart():
            continue
        if "attachment" in (part.get("Content-Disposition") or "").lower():
            continue
        ctype = part.get_content_type()
        if ctype == "text/plain" and plain is None:
            plain = part_text(part)
        elif ctype == "text/html" and html is None:
            html = part_text(part)
    if plain and plain.strip():
        return plain
    return html_to_text(html) if html else (plain or "")


def split_quotes(text: str) -> tuple[str, str]:
    """(own words, the rest): the quoted part is folded away on screen, never dropped."""
    own = own_text(text).raw_text
    if not own:
        return "", text.strip()
    rest = text.strip()
    index = rest.find(own.splitlines()[-1]) if own.splitlines() else -1
    if index >= 0:
        end = index + len(own.splitlines()[-1])
        return own, rest[end:].strip()
    return own, rest


def _rows(session: Session, campaign_id: int, where: list[Any]) -> list[OrganisationRow]:
    orgs = list(
        session.scalars(
            select(Organisation)
            .where(Organisation.campaign_id == campaign_id, *where)
            .order_by(Organisation.name_en, Organisation.key)
            .limit(MAX_ROWS)
        )
    )
    ids = [o.id for o in orgs]
    states: dict[int, str] = {}
    for org_id, state in session.execute(
        select(Invitation.organisation_id, Invitation.state)
        .where(Invitation.organisation_id.in_(ids))
        .order_by(Invitation.id)
    ).tuples():
        states[org_id] = state  # the latest invitation wins
    emails: dict[int, list[str]] = {}
    for org_id, email in session.execute(
        select(Contact.organisation_id, Contact.email)
        .where(Contact.organisation_id.in_(ids))
        .order_by(Contact.position)
    ).tuples():
        emails.setdefault(org_id, []).append(email)
    return [
        OrganisationRow(
            o.id,
            o.key,
            o.name_en,
            o.name_ja,
            o.language,
            states.get(o.id, "none"),
            tuple(emails.get(o.id, [])),
        )
        for o in orgs
    ]


def organisations(
    session: Session,
    slug: str,
    *,
    search: str = "",
    state: str = "",
    language: str = "",
) -> list[OrganisationRow]:
    """The campaign's organisations, filtered by a name/address search, state and language."""
    campaign = campaign_or_404(session, slug)
    where: list[Any] = []
    if search.strip():
        like = f"%{search.strip()}%"
        matching_contacts = select(Contact.organisation_id).where(Contact.email.ilike(like))
        where.append(
            or_(
                Organisation.name_en.ilike(like),
                Organisation.name_ja.ilike(like),
                Organisation.key.ilike(like),
                Organisation.id.in_(matching_contacts),
            )
        )
    if language:
        where.append(Organisation.language == language)
    rows = _rows(session, campaign.id, where)
    return [r for r in rows if r.state == state] if state else rows


def thread(session: Session, slug: str, organisation_id: int) -> Thread:
    """Every message sent to and received from one organisation, oldest first."""
    campaign = campaign_or_404(session, slug)
    org = session.get(Organisation, organisation_id)
    if org is None or org.campaign_id != campaign.id:
        raise NotFound(f"no organisation {organisation_id} in campaign {slug}")
    row = _rows(session, campaign.id, [Organisation.id == org.id])[0]
    result = Thread(row)
    signature = session.scalars(
        select(Signature).where(Signature.organisation_id == org.id, Signature.state == "active")
    ).first()
    if signature is not None:
        result.signed_as = {"en": signature.listed_name_en, "ja": signature.listed_name_ja}
    invitation_ids = list(
        session.scalars(select(Invitation.id).where(Invitation.organisation_id == org.id))
    )
    for out in session.scalars(
        select(OutboundMessage).where(OutboundMessage.invitation_id.in_(invitation_ids))
    ):
        own, quoted = split_quotes(body_text(out.raw or b""))
        result.entries.append(ThreadEntry(
            out.sent_at or out.created_at, "out", out.kind, out.subject,
            ", ".join(out.recipients), own, quoted, out.state,
        ))  # fmt: skip
    for inbound in session.scalars(
        select(InboundMessage).where(InboundMessage.invitation_id.in_(invitation_ids))
    ):
        own, quoted = split_quotes(body_text(inbound.raw))
        classification: dict[str, Any] = inbound.classification or {}
        result.entries.append(ThreadEntry(
            inbound.received_at, "in", inbound.intent or "-", inbound.subject or "",
            inbound.from_addr or "", own, quoted, inbound.state,
            tuple(classification.get("reasons") or ()),
            deciding_text(tuple(classification.get("reasons") or ())),
        ))  # fmt: skip
    result.entries.sort(key=lambda entry: entry.at)
    return result

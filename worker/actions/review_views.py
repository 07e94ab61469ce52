"""Read models of the review queue for the CLI: the list, and one item in full."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from worker.actions.campaigns import find_campaign
from worker.actions.review import get_item
from worker.core.classify import classify
from worker.core.states import ReviewState
from worker.models import Campaign, InboundMessage, Invitation, ReviewItem


def local_time(at: datetime | None, tz: str) -> str:
    """A time as a person reads it: in the campaign's zone, with the zone's name."""
    return at.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M %Z") if at else "-"


@dataclass(frozen=True)
class ReviewRow:
    """One line of `review list`."""

    id: int
    campaign: str
    received: str
    from_addr: str
    intent: str
    reason: str
    state: str


def review_rows(
    session: Session, campaign: str | None, *, include_resolved: bool
) -> list[ReviewRow]:
    """Items waiting for a person (or all), oldest first; times in each campaign's zone."""
    query = select(ReviewItem).order_by(ReviewItem.id)
    if campaign:
        query = query.where(ReviewItem.campaign_id == find_campaign(session, campaign).id)
    if not include_resolved:
        query = query.where(ReviewItem.state == ReviewState.OPEN.value)
    rows: list[ReviewRow] = []
    for item in session.scalars(query):
        camp = session.get(Campaign, item.campaign_id) if item.campaign_id else None
        inbound = (
            session.get(InboundMessage, item.inbound_message_id)
            if item.inbound_message_id
            else None
        )
        tz = camp.timezone if camp else "UTC"
        rows.append(
            ReviewRow(
                item.id,
                camp.slug if camp else "-",
                local_time(inbound.received_at if inbound else item.created_at, tz),
                (inbound.from_addr or "-") if inbound else "-",
                (inbound.intent or "-") if inbound else "-",
                item.reason[:120],
                item.state if item.state == ReviewState.OPEN.value else f"{item.resolution}",
            )
        )
    return rows


@dataclass
class ReviewDetail:
    """`review show`: labelled fields, and the sender's own words (None without a message)."""

    id: int
    fields: list[tuple[str, str]] = field(default_factory=list)
    own_text: str | None = None
    has_message: bool = False


def review_detail(session: Session, item_id: int) -> ReviewDetail:
    """The decoded reply, its classification and the reasons, as a person reads them."""
    item = get_item(session, item_id)
    camp = session.get(Campaign, item.campaign_id) if item.campaign_id else None
    tz = camp.timezone if camp else "UTC"
    inbound = (
        session.get(InboundMessage, item.inbound_message_id) if item.inbound_message_id else None
    )
    invitation = session.get(Invitation, item.invitation_id) if item.invitation_id else None
    detail = ReviewDetail(item.id)
    add = detail.fields.append
    add(("state", item.state + (f" ({item.resolution})" if item.resolution else "")))
    add(("reason", item.reason))
    add(("campaign", camp.slug if camp else "-"))
    if invitation is not None:
        org = invitation.organisation
        add(
            (
                "invitation",
                f"{invitation.id} {invitation.contact.email} ({org.name_en or org.name_ja}), "
                f"state {invitation.state}",
            )
        )
    if inbound is not None:
        classification: dict[str, Any] = inbound.classification or {}
        add(("inbound", f"{inbound.id} via {inbound.source}"))
        add(("received", local_time(inbound.received_at, tz)))
        add(("from", inbound.from_addr or "-"))
        add(("subject", inbound.subject or "-"))
        add(("message-id", inbound.message_id or "-"))
        add(("late", "yes" if inbound.is_late else "no"))
        if not classification:
            result = classify(inbound.raw)
            classification = {
                "intent": result.intent.value,
                "name": result.name,
                "reasons": list(result.reasons),
                "own_text": result.own_text,
            }
        add(("intent", str(classification.get("intent") or "-")))
        add(("name asked for", str(classification.get("name") or "-")))
        add(("reasons", "\n".join(classification.get("reasons") or []) or "-"))
        for key in ("verification", "match"):
            if classification.get(key):
                add((key, "\n".join(classification[key])))
        if inbound.error:
            add(("error", inbound.error))
        detail.has_message = True
        detail.own_text = classification.get("own_text") or classify(inbound.raw).own_text
    if item.resolved_at:
        add(("resolved", f"{local_time(item.resolved_at, tz)} by {item.resolved_by}"))
    if item.note:
        add(("note", item.note))
    return detail

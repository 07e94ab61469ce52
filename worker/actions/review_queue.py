"""Read model of the review queue, one item per screen; and the web's way to decide one."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from worker.actions.outbox import publish_after_commit
from worker.actions.overview import campaign_or_404
from worker.actions.review import OUTCOMES, get_item, resolve_item
from worker.actions.threads import body_text, deciding_text, highlight, split_quotes
from worker.core.states import ReviewState
from worker.models import InboundMessage, Invitation, ReviewItem


@dataclass(frozen=True)
class ReviewScreen:
    id: int
    position: int  # 1-based among the open items of the campaign
    open_count: int
    reason: str
    received_at: datetime | None
    from_addr: str
    subject: str
    organisation: str
    organisation_id: int | None
    invitation_state: str
    intent: str
    reasons: tuple[str, ...]
    own_parts: tuple[str, str, str]  # the sender's words, cut around the deciding sentence
    quoted: str
    name_prefill: str
    outcomes: tuple[str, ...] = OUTCOMES


def _open_ids(session: Session, campaign_id: int) -> list[int]:
    return list(
        session.scalars(
            select(ReviewItem.id)
            .where(ReviewItem.campaign_id == campaign_id,
                   ReviewItem.state == ReviewState.OPEN.value)
            .order_by(ReviewItem.id)
        )
    )  # fmt: skip


def next_item_id(session: Session, slug: str, after: int | None = None) -> int | None:
    """The next open item of the campaign (after `after`, wrapping round), oldest first."""
    ids = _open_ids(session, campaign_or_404(session, slug).id)
    later = [i for i in ids if after is None or i > after]
    chosen = later or ids
    return chosen[0] if chosen else None


def review_screen(session: Session, slug: str, item_id: int) -> ReviewScreen:
    """What a person needs to decide item `item_id`: the message, the guess and its reasons."""
    campaign = campaign_or_404(session, slug)
    item = get_item(session, item_id)
    ids = _open_ids(session, campaign.id)
    inbound = (
        session.get(InboundMessage, item.inbound_message_id) if item.inbound_message_id else None
    )
    invitation = session.get(Invitation, item.invitation_id) if item.invitation_id else None
    classification: dict[str, Any] = (inbound.classification or {}) if inbound else {}
    text = body_text(inbound.raw) if inbound else ""
    own, quoted = split_quotes(text)
    reasons = tuple(classification.get("reasons") or ())
    org = invitation.organisation if invitation else None
    prefill = str(classification.get("name") or "")
    if not prefill and org is not None:
        language = invitation.language if invitation else "en"
        prefill = (org.name_ja if language == "ja" else org.name_en) or org.name_en or ""
    return ReviewScreen(
        id=item.id,
        position=(ids.index(item.id) + 1) if item.id in ids else 0,
        open_count=len(ids),
        reason=item.reason,
        received_at=inbound.received_at if inbound else item.created_at,
        from_addr=(inbound.from_addr or "") if inbound else "",
        subject=(inbound.subject or "") if inbound else "",
        organisation=(org.name_en or org.name_ja or org.key) if org else "",
        organisation_id=org.id if org else None,
        invitation_state=invitation.state if invitation else "",
        intent=str(classification.get("intent") or (inbound.intent if inbound else "") or ""),
        reasons=reasons,
        own_parts=highlight(own, deciding_text(reasons)),
        quoted=quoted,
        name_prefill=prefill,
    )


def decide(
    session: Session,
    slug: str,
    item_id: int,
    *,
    outcome: str,
    name: str | None,
    by: str,
    secret: bytes,
    now: datetime,
) -> str:
    """Resolve the item as the person at the web console decided; mail it queues is published
    after the caller's commit. `by` is the logged-in account, recorded as `decided_by`."""
    campaign = campaign_or_404(session, slug)
    item = get_item(session, item_id)
    if item.campaign_id != campaign.id:
        from worker.errors import NotFound

        raise NotFound(f"review item {item_id} is not part of campaign {slug}")
    queued: list[int] = []
    summary = resolve_item(
        session, item, outcome=outcome, name=(name or "").strip() or None, by=by,
        invitation_id=None, note="decided in the web console", secret=secret, now=now,
        outbox_ids=queued,
    )  # fmt: skip
    publish_after_commit(session, queued)
    return summary

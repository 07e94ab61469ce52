"""Read model of the outbox for the CLI: outgoing mail with its state and the relay's answer."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from worker.actions.campaigns import find_campaign
from worker.actions.review_views import local_time
from worker.core.states import OutboxState
from worker.errors import UserError
from worker.models import Campaign, OutboundMessage

# States whose interesting time is the last change rather than the next attempt.
_SETTLED = frozenset({OutboxState.FAILED, OutboxState.HELD, OutboxState.SUPPRESSED})


@dataclass(frozen=True)
class OutboxRow:
    """One line of `outbox list`; `when` in the campaign's zone."""

    id: int
    campaign: str
    kind: str
    sequence: int
    recipients: str
    state: str
    attempts: int
    when: str
    last_answer: str


def outbox_rows(
    session: Session, *, state: str | None, campaign: str | None, limit: int
) -> list[OutboxRow]:
    """The newest `limit` rows (shown oldest first), optionally of one state or campaign."""
    if state is not None and state not in {s.value for s in OutboxState}:
        raise UserError(
            f"--state {state}: unknown; use one of {', '.join(s.value for s in OutboxState)}"
        )
    query = (
        select(OutboundMessage, Campaign.slug, Campaign.timezone)
        .join(Campaign, Campaign.id == OutboundMessage.campaign_id)
        .order_by(OutboundMessage.id.desc())
        .limit(limit)
    )
    if state:
        query = query.where(OutboundMessage.state == state)
    if campaign:
        query = query.where(Campaign.id == find_campaign(session, campaign).id)
    rows: list[OutboxRow] = []
    for msg, slug, tz_name in reversed(session.execute(query).tuples().all()):
        when: datetime | None = msg.sent_at if msg.state == "sent" else msg.next_attempt_at
        if msg.state in _SETTLED:
            when = msg.updated_at
        rows.append(
            OutboxRow(
                msg.id,
                slug,
                msg.kind,
                msg.sequence,
                ", ".join(msg.recipients),
                msg.state,
                msg.attempts,
                local_time(when, tz_name),
                msg.last_smtp_reply or "",  # whole: the table folds it, a pipe gets it all
            )
        )
    return rows


def sent_by_kind(session: Session) -> dict[str, int]:
    """How many emails of each kind went out (all campaigns): the demo's live figures."""
    rows = session.execute(
        select(OutboundMessage.kind, func.count())
        .where(OutboundMessage.state == OutboxState.SENT.value)
        .group_by(OutboundMessage.kind)
    ).tuples()
    return {kind: int(count) for kind, count in rows}

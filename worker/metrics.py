"""Prometheus metrics read from the database: what queue metrics cannot see.

Flower's own /metrics covers the Celery queues and tasks; these gauges cover the outbox and the
campaigns: mail due but not sent, rows stuck in `sending`, failures, held rows, signatures and
invitations by state, the age of the last beat tick. Values are computed at each scrape (or each
`outreach metrics write`), so they are never older than the database.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, start_http_server, write_to_textfile
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from worker.actions.forecast import campaign_forecast
from worker.core.kinds import EmailKind
from worker.core.states import CampaignState, OutboxState, ReviewState
from worker.models import Campaign, Heartbeat, Invitation, OutboundMessage, ReviewItem, Signature

PREFIX = "outreach"


def _gauge(name: str, doc: str, labels: list[str]) -> GaugeMetricFamily:
    return GaugeMetricFamily(f"{PREFIX}_{name}", doc, labels=labels)


def gather_metrics(session: Session, now: datetime) -> list[GaugeMetricFamily]:
    """Every gauge as of `now`, one sample per campaign (and state/kind where labelled)."""
    slugs = dict(session.execute(select(Campaign.id, Campaign.slug)).tuples().all())

    def slug(campaign_id: int | None) -> str:
        return slugs.get(campaign_id, "") if campaign_id is not None else ""

    claimable = [OutboxState.QUEUED.value, OutboxState.RETRY.value]
    due = _gauge(
        "outbox_due", "Outbox rows whose send time has come but are not sent.", ["campaign"]
    )
    stuck = _gauge(
        "outbox_stuck_sending", "Outbox rows in `sending` past their lease.", ["campaign"]
    )
    failed = _gauge("outbox_failed", "Outbox rows that failed permanently.", ["campaign"])
    held = _gauge(
        "outbox_held",
        "Outbox rows held for a person to resolve (`outreach outbox resolve`): real trouble. "
        "A final letter waiting for approval is counted in outbox_awaiting_approval instead.",
        ["campaign"],
    )
    awaiting = _gauge(
        "outbox_awaiting_approval",
        "Final letters prepared and waiting for a lead's `outreach campaign approve` (normal).",
        ["campaign"],
    )
    waiting_campaigns = set(
        session.scalars(
            select(Campaign.id).where(Campaign.state == CampaignState.AWAITING_APPROVAL.value)
        )
    )
    oldest_due = _gauge(
        "outbox_oldest_due_age_seconds",
        "How long the oldest due, unsent outbox row has waited.",
        ["campaign"],
    )
    by_state = _gauge(
        "outbox_messages", "Outbox rows by kind and state.", ["campaign", "kind", "state"]
    )
    signatures = _gauge(
        "signatures", "Signatures by state (active, withdrawn).", ["campaign", "state"]
    )
    invitations = _gauge("invitations", "Invitations by state.", ["campaign", "state"])
    review = _gauge("review_open", "Review items waiting for a person.", ["campaign"])
    deadline = _gauge(
        "campaign_seconds_to_deadline",
        "Seconds until the deadline (negative after).",
        ["campaign", "state"],
    )
    beat_age = _gauge("beat_heartbeat_age_seconds", "Seconds since beat last ticked.", [])
    missed = _gauge(
        "schedule_missed",
        "Emails of a draft, open or paused campaign that cannot go before its deadline "
        "(quiet hours, min_reminder_gap): invitations counted by recipient, reminders by mail.",
        ["campaign", "kind"],
    )

    due_rows = session.execute(
        select(OutboundMessage.campaign_id, func.count(), func.min(OutboundMessage.next_attempt_at))
        .where(OutboundMessage.state.in_(claimable), OutboundMessage.next_attempt_at <= now)
        .group_by(OutboundMessage.campaign_id)
    ).all()
    due_counts = {c: n for c, n, _ in due_rows}
    for c, _, oldest in due_rows:
        oldest_due.add_metric([slug(c)], max(0.0, (now - oldest).total_seconds()))
    stuck_counts: dict[int, int] = dict(
        session.execute(
            select(OutboundMessage.campaign_id, func.count())
            .where(
                OutboundMessage.state == OutboxState.SENDING.value,
                or_(OutboundMessage.lease_until.is_(None), OutboundMessage.lease_until < now),
            )
            .group_by(OutboundMessage.campaign_id)
        )
        .tuples()
        .all()
    )
    failed_counts: dict[int, int] = {}
    held_counts: dict[int, int] = {}
    awaiting_counts: dict[int, int] = {}
    for c, kind, state, n in session.execute(
        select(
            OutboundMessage.campaign_id, OutboundMessage.kind, OutboundMessage.state, func.count()
        ).group_by(OutboundMessage.campaign_id, OutboundMessage.kind, OutboundMessage.state)
    ).all():
        by_state.add_metric([slug(c), kind, state], n)
        if state == OutboxState.FAILED.value:
            failed_counts[c] = failed_counts.get(c, 0) + n
        elif (state == OutboxState.HELD.value and kind == EmailKind.FINAL_LETTER
              and c in waiting_campaigns):
            awaiting_counts[c] = awaiting_counts.get(c, 0) + n
        elif state == OutboxState.HELD.value:
            held_counts[c] = held_counts.get(c, 0) + n
    # One sample per campaign even at zero, so an alert on "> 0" sees the series go back down.
    for cid, name in slugs.items():
        due.add_metric([name], due_counts.get(cid, 0))
        stuck.add_metric([name], stuck_counts.get(cid, 0))
        failed.add_metric([name], failed_counts.get(cid, 0))
        held.add_metric([name], held_counts.get(cid, 0))
        awaiting.add_metric([name], awaiting_counts.get(cid, 0))

    for c, state, n in session.execute(
        select(Signature.campaign_id, Signature.state, func.count()).group_by(
            Signature.campaign_id, Signature.state
        )
    ).all():
        signatures.add_metric([slug(c), state], n)
    for c, state, n in session.execute(
        select(Invitation.campaign_id, Invitation.state, func.count()).group_by(
            Invitation.campaign_id, Invitation.state
        )
    ).all():
        invitations.add_metric([slug(c), state], n)
    open_reviews = dict(
        session.execute(
            select(ReviewItem.campaign_id, func.count())
            .where(ReviewItem.state == ReviewState.OPEN.value)
            .group_by(ReviewItem.campaign_id)
        )
        .tuples()
        .all()
    )
    for cid, name in slugs.items():
        review.add_metric([name], open_reviews.get(cid, 0))
    for name, state, when in session.execute(
        select(Campaign.slug, Campaign.state, Campaign.deadline)
    ):
        deadline.add_metric([name, state], (when - now).total_seconds())
    for campaign in session.scalars(
        select(Campaign).where(
            Campaign.state.in_(["draft", "open", "paused"]), Campaign.deadline > now
        )
    ):
        fc = campaign_forecast(session, campaign, now)
        missed.add_metric([campaign.slug, "invitation"], fc.uninvitable)
        missed.add_metric([campaign.slug, "reminder"], fc.reminders_missed)
    beat = session.get(Heartbeat, "beat")
    if beat is not None:
        beat_age.add_metric([], (now - beat.at).total_seconds())

    return [
        due,
        stuck,
        failed,
        held,
        awaiting,
        oldest_due,
        by_state,
        signatures,
        invitations,
        review,
        deadline,
        beat_age,
        missed,
    ]


class DatabaseCollector(Collector):
    """Reads the gauges from the database at every scrape."""

    def __init__(self, database_url: str | None = None) -> None:
        self.database_url = database_url

    def collect(self) -> Iterator[Any]:
        from worker.db import session_scope

        up = GaugeMetricFamily(f"{PREFIX}_database_up", "1 when the database answered this scrape.")
        try:
            with session_scope(self.database_url) as session:
                families = gather_metrics(session, datetime.now(UTC))
        except Exception:
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from families


def registry(database_url: str | None = None) -> CollectorRegistry:
    reg = CollectorRegistry(auto_describe=False)
    reg.register(DatabaseCollector(database_url))
    return reg


def write_textfile(path: Path, database_url: str | None = None) -> None:
    """Write every gauge for node exporter's textfile collector (atomically, as it requires)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_to_textfile(str(path), registry(database_url))


def serve(port: int, addr: str = "127.0.0.1", database_url: str | None = None) -> Any:
    """Serve /metrics on `addr:port` (loopback by default) in a background thread; returns
    (server, thread)."""
    return start_http_server(port, addr=addr, registry=registry(database_url))


__all__ = ["DatabaseCollector", "gather_metrics", "registry", "serve", "write_textfile"]

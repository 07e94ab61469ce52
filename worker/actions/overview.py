"""Read models of the web console's campaign pages: the list, the funnel, replies, what is due."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from worker.actions.scan import campaign_plan
from worker.actions.status import Funnel, _funnel, _outbox_figures
from worker.core.states import CampaignState, InvitationState, OutboxState
from worker.errors import NotFound
from worker.models import Campaign, InboundMessage, Invitation, OutboundMessage

REPLY_DAYS = 14  # the replies chart shows this many days up to today (campaign timezone)


@dataclass(frozen=True)
class CampaignRow:
    slug: str
    title: str
    state: str
    timezone: str
    deadline: datetime  # aware; shown in `timezone`
    funnel: Funnel


@dataclass(frozen=True)
class DueItem:
    at: datetime  # aware; shown in the campaign's timezone
    what: str  # "invitations" | "reminder" | "deadline" | "outbox"
    count: int = 0


@dataclass
class Dashboard:
    slug: str
    title: str
    state: str
    timezone: str
    deadline: datetime
    languages: list[str]
    funnel: Funnel
    replies_by_day: list[tuple[date, int]] = field(default_factory=list)
    due: list[DueItem] = field(default_factory=list)
    outbox_failed: int = 0
    outbox_held: int = 0
    outbox_due: int = 0
    requires_approval: bool = True
    approved_by: str | None = None

    @property
    def silent(self) -> int:
        return self.funnel.no_answer

    @property
    def answered(self) -> int:
        f = self.funnel
        return f.signed + f.declined + f.questions + f.unsubscribed + f.withdrawn

    @property
    def is_open(self) -> bool:
        return self.state in (CampaignState.OPEN.value, CampaignState.PAUSED.value)


def campaign_or_404(session: Session, slug: str) -> Campaign:
    campaign = session.scalars(select(Campaign).where(Campaign.slug == slug)).first()
    if campaign is None:
        raise NotFound(f"no campaign {slug!r}; see the campaign list")
    return campaign


def list_campaigns(session: Session) -> list[CampaignRow]:
    """Every campaign, the soonest deadline first, with its funnel counts."""
    campaigns = session.scalars(select(Campaign).order_by(Campaign.deadline, Campaign.slug))
    return [
        CampaignRow(c.slug, c.title, c.state, c.timezone, c.deadline, _funnel(session, c.id))
        for c in campaigns
    ]


def _replies_by_day(session: Session, campaign: Campaign, now: datetime) -> list[tuple[date, int]]:
    tz = ZoneInfo(campaign.timezone)
    today = now.astimezone(tz).date()
    first = today - timedelta(days=REPLY_DAYS - 1)
    since = datetime.combine(first, datetime.min.time(), tz)
    received = session.scalars(
        select(InboundMessage.received_at).where(
            InboundMessage.campaign_id == campaign.id, InboundMessage.received_at >= since
        )
    )
    per_day = Counter(at.astimezone(tz).date() for at in received)
    return [(first + timedelta(days=i), per_day[first + timedelta(days=i)])
            for i in range(REPLY_DAYS)]  # fmt: skip


def _due(session: Session, campaign: Campaign, now: datetime) -> list[DueItem]:
    """What happens next, soonest first: invitations, reminder rounds, the deadline, the outbox."""
    if campaign.state not in (
        CampaignState.DRAFT.value, CampaignState.OPEN.value, CampaignState.PAUSED.value
    ):  # fmt: skip
        return []
    plan = campaign_plan(campaign)
    items: list[DueItem] = []
    pending = session.scalar(
        select(func.count()).where(
            Invitation.campaign_id == campaign.id,
            Invitation.state == InvitationState.PENDING.value,
        )
    )
    if pending:
        items.append(DueItem(max(campaign.invite_at, now), "invitations", int(pending)))
    waiting = session.scalar(
        select(func.count()).where(
            Invitation.campaign_id == campaign.id,
            Invitation.state == InvitationState.INVITED.value,
        )
    )
    for offset in plan.reminders_before_deadline:
        at = campaign.deadline - offset
        if at > now:
            items.append(DueItem(at, "reminder", int(waiting or 0)))
    queued = session.scalar(
        select(func.count()).where(
            OutboundMessage.campaign_id == campaign.id,
            OutboundMessage.state.in_([OutboxState.QUEUED.value, OutboxState.RETRY.value]),
        )
    )
    if queued:
        items.append(DueItem(now, "outbox", int(queued)))
    items.append(DueItem(campaign.deadline, "deadline"))
    return sorted(items, key=lambda item: item.at)


def dashboard(session: Session, slug: str, now: datetime) -> Dashboard:
    """One campaign's funnel, replies per day (last two weeks), and what is due next."""
    campaign = campaign_or_404(session, slug)
    outbox = _outbox_figures(session, now, OutboundMessage.campaign_id == campaign.id)
    return Dashboard(
        slug=campaign.slug,
        title=campaign.title,
        state=campaign.state,
        timezone=campaign.timezone,
        deadline=campaign.deadline,
        languages=list(campaign.languages),
        funnel=_funnel(session, campaign.id),
        replies_by_day=_replies_by_day(session, campaign, now),
        due=_due(session, campaign, now),
        outbox_failed=outbox.failed,
        outbox_held=outbox.held,
        outbox_due=outbox.due,
        requires_approval=campaign.requires_approval,
        approved_by=campaign.approved_by,
    )

"""Campaign lifecycle use cases: find one by slug, start, pause, resume."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from worker.actions import audit
from worker.actions.forecast import campaign_forecast
from worker.core.audit_actions import AuditAction
from worker.core.schedule_report import forecast_lines, forecast_problems
from worker.core.states import CAMPAIGN_TRANSITIONS, CampaignState, InvitationState
from worker.errors import NotFound, Problem, UserError
from worker.models import Campaign, Invitation


def find_campaign(session: Session, slug: str) -> Campaign:
    """The campaign with this slug, or an error naming the known ones and how to load one."""
    campaign = session.scalars(select(Campaign).where(Campaign.slug == slug)).first()
    if campaign is None:
        known = ", ".join(session.scalars(select(Campaign.slug).order_by(Campaign.slug))) or "none"
        raise NotFound(
            f"no campaign {slug!r} (known: {known}); see `outreach campaign list`, or load it "
            "with `outreach campaign load FILE.yaml`"
        )
    return campaign


@dataclass(frozen=True)
class Moved:
    """A campaign after a lifecycle move, with what a person wants to hear about it."""

    slug: str
    state: str
    timezone: str
    invite_at: datetime
    deadline: datetime
    pending_invitations: int
    schedule: tuple[str, ...] = ()  # when each remaining email will really go (opening moves)
    warnings: tuple[str, ...] = ()  # emails that cannot go before the deadline (resume)
    first_invitation_at: datetime | None = None  # the earliest a pending invitation may go


def _local(value: datetime, tz: str) -> str:
    return value.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M %Z")


def _move(
    session: Session,
    slug: str,
    allowed_from: CampaignState,
    target: CampaignState,
    action: AuditAction,
    *,
    actor: str,
    now: datetime,
) -> Moved:
    """1. The campaign must be in `allowed_from`; 2. opening needs a deadline still ahead;
    3. the move is checked against the campaign table and audited."""
    campaign = find_campaign(session, slug)
    # 1.
    if campaign.state != allowed_from.value:
        raise UserError(
            f"campaign {slug} is {campaign.state}; `{action}` needs it {allowed_from.value}"
            + (" (see `outreach status`)" if campaign.state != "draft" else "")
        )
    # 2.
    if target is CampaignState.OPEN and campaign.deadline <= now:
        raise UserError(
            f"campaign {slug}: its deadline {_local(campaign.deadline, campaign.timezone)} has "
            "passed; move schedule.deadline later in the campaign file and reload it first"
        )
    # 2b. Opening: every invitation and listed reminder must be able to go before the deadline
    #     (quiet hours in each recipient's clock, min_reminder_gap); `start` refuses otherwise.
    lines: list[str] = []
    problems: list[str] = []
    first: datetime | None = None
    if target is CampaignState.OPEN:
        forecast = campaign_forecast(session, campaign, now)
        lines, problems = forecast_lines(forecast), forecast_problems(forecast)
        goes = [m.goes_at for g in forecast.groups for m in g.mails if m.kind == "invitation"]
        first = min(goes, default=None)
        if problems and action is AuditAction.START:
            raise UserError(
                f"campaign {slug} was not started (it stays a draft): some emails could never "
                "go before the deadline. Computed times:\n"
                + "\n".join(f"    {line}" for line in lines)
                + "\nChange the campaign file, load it again (`outreach campaign load FILE`), "
                "then start it",
                [Problem(campaign.source_path or slug, "schedule", p) for p in problems],
            )
    # 3.
    audit.move(session, campaign, CAMPAIGN_TRANSITIONS, target, actor=actor, action=action)
    campaign.updated_at = now
    pending = session.scalar(
        select(func.count(Invitation.id)).where(
            Invitation.campaign_id == campaign.id,
            Invitation.state == InvitationState.PENDING.value,
        )
    )
    return Moved(
        campaign.slug,
        campaign.state,
        campaign.timezone,
        campaign.invite_at,
        campaign.deadline,
        int(pending or 0),
        tuple(lines),
        tuple(problems),
        first,
    )


def start_campaign(session: Session, slug: str, *, actor: str, now: datetime) -> Moved:
    """Open a draft campaign: invitations go out at its invite_at."""
    return _move(
        session,
        slug,
        CampaignState.DRAFT,
        CampaignState.OPEN,
        AuditAction.START,
        actor=actor,
        now=now,
    )


def pause_campaign(session: Session, slug: str, *, actor: str, now: datetime) -> Moved:
    """Stop sending invitations and reminders until resumed (queued mail waits)."""
    return _move(
        session,
        slug,
        CampaignState.OPEN,
        CampaignState.PAUSED,
        AuditAction.PAUSE,
        actor=actor,
        now=now,
    )


def resume_campaign(session: Session, slug: str, *, actor: str, now: datetime) -> Moved:
    """Carry on sending a paused campaign."""
    return _move(
        session,
        slug,
        CampaignState.PAUSED,
        CampaignState.OPEN,
        AuditAction.RESUME,
        actor=actor,
        now=now,
    )

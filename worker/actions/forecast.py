"""A campaign's schedule forecast from the database: when each remaining email will really go.

Used by `campaign check` and `start` (which refuse when an email cannot go before the deadline)
and by `show`, `status` and the approval step (which warn). The decision is the pure
`worker.core.schedule.forecast`; the words are `worker.core.schedule_report`.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from worker.actions.scan import campaign_plan, invitation_views
from worker.core import schedule
from worker.core.schedule_report import forecast_problems, forecast_summary, local
from worker.core.states import InvitationState
from worker.errors import Problem
from worker.models import Campaign, Invitation


def campaign_forecast(session: Session, campaign: Campaign, now: datetime) -> schedule.Forecast:
    """Every pending or invited invitation of the campaign, simulated from `now` to the deadline."""
    return schedule.forecast(campaign_plan(campaign), invitation_views(session, campaign.id), now)


def schedule_problems(session: Session, campaign: Campaign, now: datetime) -> list[Problem]:
    """What `campaign check` reports about the schedule: a past deadline, impossible emails."""
    where = campaign.source_path or campaign.slug
    if campaign.deadline <= now and campaign.state in ("draft", "open", "paused"):
        deadline = local(campaign.deadline, campaign.timezone)
        return [
            Problem(where, "schedule.deadline",
                    f"the deadline {deadline} has passed; move it later and load the file again")
        ]  # fmt: skip
    fc = campaign_forecast(session, campaign, now)
    return [Problem(where, "schedule", text) for text in forecast_problems(fc)]


def schedule_warning(session: Session, campaign: Campaign, now: datetime) -> str | None:
    """For `status` and approval: None when every remaining email can go, else a loud line."""
    if campaign.state not in ("draft", "open", "paused") or campaign.deadline <= now:
        return None
    fc = campaign_forecast(session, campaign, now)
    return None if fc.ok else forecast_summary(fc)


def missed_mail_warning(session: Session, campaign: Campaign) -> str | None:
    """For the approval step: organisations never invited, reminders never sent (None: none)."""
    states = dict(
        session.execute(
            select(Invitation.state, func.count())
            .where(Invitation.campaign_id == campaign.id)
            .group_by(Invitation.state)
        )
        .tuples()
        .all()
    )
    total = sum(states.values())
    pending = states.get(InvitationState.PENDING.value, 0)
    if not pending:
        return None
    return (
        f"WARNING: {pending} of {total} organisations were never invited (their invitation was "
        "still pending at the deadline: quiet hours, a late start or a paused campaign); they "
        "had no chance to sign this letter. See `outreach contacts list "
        f"{campaign.slug}`."
    )

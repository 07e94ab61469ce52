"""The schedule forecast in words: what goes when, what cannot happen, and what to change.

`campaign check`/`start` refuse with these lines, `show`/`status`/`approve` print them; one
wording everywhere. Times are in the campaign's timezone, with the recipient's own clock beside
them when it differs.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from worker.core.durations import describe
from worker.core.schedule import Forecast, PlannedMail, RecipientForecast


def local(moment: datetime, timezone: str) -> str:
    return moment.astimezone(ZoneInfo(timezone)).strftime("%Y-%m-%d %H:%M %Z")


def _when(moment: datetime, fc: Forecast, group: RecipientForecast) -> str:
    text = local(moment, fc.plan.timezone)
    if group.timezone != fc.plan.timezone:
        own = moment.astimezone(ZoneInfo(group.timezone)).strftime("%H:%M")
        text += f" ({own} {group.timezone})"
    return text


def _who(group: RecipientForecast, fc: Forecast) -> str:
    n = len(group.invitation_ids)
    where = "" if group.timezone == fc.plan.timezone else f" in {group.timezone}"
    return f"{n} recipient{'s' if n != 1 else ''}{where}"


def _mail_line(mail: PlannedMail, fc: Forecast, group: RecipientForecast) -> str:
    if mail.possible:
        later = f" (held back by {mail.why_later})" if mail.why_later else ""
        return f"{mail.kind}: {_when(mail.goes_at, fc, group)}{later}"
    return f"{mail.kind}: NEVER (cannot go before the deadline)"


def forecast_lines(fc: Forecast) -> list[str]:
    """One line per group of recipients with the same times: when each of their emails goes."""
    return [
        f"{_who(g, fc)}: " + "; ".join(_mail_line(m, fc, g) for m in g.mails) for g in fc.groups
    ]


def _fixes(mail: PlannedMail, fc: Forecast, previous: PlannedMail | None) -> list[str]:
    plan = fc.plan
    fixes = [f"move schedule.deadline after {local(mail.goes_at, plan.timezone)}"]
    if previous is not None and not previous.possible:
        return [f"first make the {previous.kind} possible"]
    if "quiet hours" in mail.why_later:
        fixes.append(
            f"change schedule.quiet_hours (now {plan.quiet_hours.describe()}; "
            "`quiet_hours: off` sends at any hour)"
        )
    if mail.kind == "invitation":
        fixes.append("start the campaign earlier (schedule.invite_at)")
        return fixes
    if "min_reminder_gap" in mail.why_later:
        fixes.append(f"shorten schedule.min_reminder_gap (now {describe(plan.min_reminder_gap)})")
    fixes.append(
        "drop this reminder from schedule.reminders_before_deadline (or lower max_reminders)"
    )
    return fixes


def forecast_problems(fc: Forecast) -> list[str]:
    """Each email that cannot go before the deadline, for whom, when it would go, what to do."""
    problems = []
    deadline = local(fc.plan.deadline, fc.plan.timezone)
    for group in fc.groups:
        previous: PlannedMail | None = None
        for mail in group.mails:
            if not mail.possible:
                reason = f" ({mail.why_later})" if mail.why_later else ""
                scheduled = local(mail.scheduled, fc.plan.timezone)
                if previous is not None and not previous.possible:
                    what = f"cannot happen: the {previous.kind} never goes"
                else:
                    what = (
                        f"cannot go before the deadline {deadline}: scheduled {scheduled}, "
                        f"the earliest it may go is {_when(mail.goes_at, fc, group)}{reason}"
                    )
                fixes = "; or ".join(_fixes(mail, fc, previous))
                problems.append(f"{_who(group, fc)}: the {mail.kind} {what}. To fix: {fixes}")
            previous = mail
    return problems


def forecast_summary(fc: Forecast) -> str:
    """One line for status and approval: all fine, or how many recipients are affected."""
    if fc.ok:
        return "every remaining invitation and reminder can go before the deadline"
    parts = []
    if fc.uninvitable:
        parts.append(f"{fc.uninvitable} recipient(s) can never be invited before the deadline")
    if fc.reminders_missed:
        parts.append(f"{fc.reminders_missed} listed reminder(s) can never be sent")
    return "WARNING: " + " and ".join(parts) + " (see `outreach campaign show`)"

"""Does the bounce path work? Judged from what went out and what came back, at `now`.

A broken bounce address fails silently: the MTA that cannot deliver a DSN to it drops it, and
nothing in our own tables changes. What we can see: mail went out long enough ago to the
usual mix of addresses (some always fail; some were even refused at SMTP time, so bad
addresses are known to be in the list), and no delivery report ever reached the mailbox.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

MIN_SENT = 20  # below this, no bounce at all is ordinary (1-5 % of addresses fail)
WAIT = timedelta(hours=24)  # remote MTAs give up and report within a day for most failures


@dataclass(frozen=True)
class BounceTraffic:
    """What the database knows about mail to contacts and the reports that came back."""

    sent: int  # emails to contacts our relay accepted
    first_sent_at: datetime | None
    reports: int  # delivery reports (DSNs, NDRs) read from the mailbox since then
    last_report_at: datetime | None
    refused_at_smtp: int  # addresses our relay refused outright: bad addresses are present
    bounce_addresses: tuple[str, ...]  # where reports are sent, one example per campaign
    separate_mailbox: bool  # some campaign routes reports away from the reply mailbox


@dataclass(frozen=True)
class BounceVerdict:
    ok: bool
    detail: str


def judge_bounce_path(traffic: BounceTraffic, now: datetime) -> BounceVerdict:
    """1. Reports arrive: fine. 2. Too little or too recent mail to tell: fine, said so.
    3. Enough mail long enough ago and no report at all: the path is probably broken."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    where = ", ".join(traffic.bounce_addresses) or "(no campaign yet)"
    separate = (" Reports go to a separate mailbox: it must be delivered to the polled one or "
                "polled itself.") if traffic.separate_mailbox else ""
    # 1.
    if traffic.reports:
        last = traffic.last_report_at.isoformat(timespec="minutes") if traffic.last_report_at \
            else "?"
        return BounceVerdict(True, f"{traffic.reports} delivery report(s) read, last {last}; "
                                   f"reports go to {where}")
    # 2.
    old_enough = traffic.first_sent_at is not None and now - traffic.first_sent_at >= WAIT
    if traffic.sent < MIN_SENT or not old_enough:
        return BounceVerdict(True, f"no delivery report yet; {traffic.sent} email(s) sent, too "
                                   f"few or too recent to tell; reports go to {where}.{separate}")
    # 3.
    known_bad = (f" {traffic.refused_at_smtp} address(es) were refused at SMTP time, so bad "
                 "addresses are in the list;") if traffic.refused_at_smtp else ""
    since = traffic.first_sent_at.isoformat(timespec="minutes") if traffic.first_sent_at else "?"
    return BounceVerdict(
        False,
        f"no delivery report received although {traffic.sent} emails went out since {since};"
        f"{known_bad} bounces are probably lost. Send a test message to a non-existent address "
        f"at another domain and check that its report reaches the polled mailbox via {where} "
        f"(README: 'Where bounces go').{separate}",
    )

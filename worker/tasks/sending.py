"""Sending tasks: "scan.due" (beat), "scan.invite"/"scan.remind" (fan-out: queue the rows and
send them) and "outbox.send" (send rows queued elsewhere, retries and re-drives)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import structlog

from worker.actions import claim, due, outbox, scan
from worker.celery_app import app
from worker.core.pacing import sends_inline, split_for_pacing
from worker.core.schedule import Reminder
from worker.db import session_factory
from worker.mail.smtp import get_sender
from worker.ratelimit import RateLimiter, make_limiter
from worker.settings import get_settings

log = structlog.get_logger(__name__)

_LIMITER: RateLimiter | None = None


def reset_process_state() -> None:
    """After fork: no Redis connection or limiter state is shared with the parent, and the
    child holds claims under its own name."""
    global _LIMITER
    _LIMITER = None
    claim.reset_worker_name()


def _limiter(relay: str) -> RateLimiter:
    global _LIMITER
    if _LIMITER is None:
        settings = get_settings()
        _LIMITER = make_limiter(settings.resolved_redis_url(), relay, settings.smtp_rate_per_minute)
    return _LIMITER


def _now() -> datetime:
    return datetime.now(UTC)


@app.task(name="outbox.send")
def send_outbox(ids: Sequence[int]) -> dict[str, int]:
    """Claim, send and record a batch of outbox rows. A repeat finds them taken or sent."""
    settings = get_settings()
    sender = get_sender()
    # Under a slow rate limit take only what can go out well inside the time limit.
    ids, later = split_for_pacing(list(ids), settings.smtp_rate_per_minute)
    if later:
        outbox.publish(later)
    report = outbox.send_batch(
        session_factory(),
        ids,
        sender=sender,
        limiter=_limiter(sender.relay),
        lease=timedelta(seconds=settings.outbox_lease_seconds),
        policy=settings.retry_policy(),
    )
    _log_report(report)
    return {"claimed": report.claimed, "sent": report.sent, "retry": report.retry}


@app.task(name="scan.due", time_limit=120, soft_time_limit=100)
def scan_due() -> dict[str, int]:
    """The beat scan: decide in one transaction, then publish the work after it committed.

    What it hands out is marked in the database until the dispatch window ends (a task lost
    with a worker is handed out again then), and no more than the relay can send in one
    window stands handed out at once, so the broker never holds a backlog of duplicates.
    """
    settings = get_settings()
    now = _now()
    window = timedelta(seconds=settings.dispatch_window_seconds)
    with session_factory()() as session, session.begin():
        plan = scan.plan_scan(
            session,
            now=now,
            lease=timedelta(seconds=settings.outbox_lease_seconds),
            policy=settings.retry_policy(),
            budget=due.dispatch_budget(settings.smtp_rate_per_minute, window),
            dispatch_until=now + window,
        )
    for campaign_id in sorted(set(plan.deliver) | set(plan.closed)):
        app.send_task("delivery.prepare", args=[campaign_id])
    if plan.redrive:
        outbox.publish(plan.redrive)
    dispatched = 0
    size = settings.outbox_batch_size
    for work in plan.work:
        for start in range(0, len(work.invitations), size):
            ids = work.invitations[start : start + size]
            app.send_task("scan.invite", args=[work.campaign_id, ids])
            dispatched += len(ids)
        reminders = [[r.invitation_id, r.sequence] for r in work.reminders]
        for start in range(0, len(reminders), size):
            app.send_task("scan.remind", args=[work.campaign_id, reminders[start : start + size]])
            dispatched += len(reminders[start : start + size])
    if plan.closed or dispatched or plan.redrive:
        log.info(
            "scan.due",
            dispatched=dispatched,
            closed=plan.closed,
            redrive=len(plan.redrive),
        )
    return {"dispatched": dispatched, "redrive": len(plan.redrive), "closed": len(plan.closed)}


def _log_report(report: outbox.SendReport) -> None:
    """One log line for a batch that did not simply all go out."""
    if report.failed or report.retry:
        log.info(
            "outbox.batch",
            claimed=report.claimed,
            sent=report.sent,
            retry=report.retry,
            failed=report.failed,
            bounced_contacts=report.bounced_contacts,
        )


def _inline_claim(count: int) -> outbox.ClaimAs | None:
    """A claim for rows a fan-out task will send itself, or None to publish "outbox.send".

    Sending inline spares a broker round trip, a claiming UPDATE and reading the bytes back;
    under a slow rate limit a batch that could not go out well inside the time limit is
    published instead (as `send_outbox` splits it).
    """
    settings = get_settings()
    if not sends_inline(count, settings.smtp_rate_per_minute):
        return None
    lease = timedelta(seconds=settings.outbox_lease_seconds)
    return outbox.ClaimAs(claimer=outbox.worker_name(), lease_until=_now() + lease)


def _send_claimed(queued: scan.Queued, claim: outbox.ClaimAs | None) -> None:
    """Send what the committed transaction created claimed; a crash here leaves the rows
    `sending` under the lease, and the scan re-drives them (same Message-ID) when it ends."""
    if claim is None or not queued.claimed:
        return
    settings = get_settings()
    sender = get_sender()
    report = outbox.send_claimed(
        session_factory(),
        queued.claimed,
        sender=sender,
        limiter=_limiter(sender.relay),
        claimer=claim.claimer,
        lease=timedelta(seconds=settings.outbox_lease_seconds),
        policy=settings.retry_policy(),
    )
    _log_report(report)


@app.task(name="scan.invite")
def invite(campaign_id: int, invitation_ids: Sequence[int]) -> int:
    """Queue invitation emails for these pending invitations (one transaction), then send them.

    A repeat finds the invitations no longer pending and does nothing.
    """
    settings = get_settings()
    claim = _inline_claim(len(invitation_ids))
    with session_factory()() as session, session.begin():
        queued = scan.invite(
            session,
            campaign_id,
            list(invitation_ids),
            now=_now(),
            secret=settings.secret(),
            claim=claim,
        )
    _send_claimed(queued, claim)
    return len(queued.outbox_ids)


@app.task(name="scan.remind")
def remind(campaign_id: int, items: Sequence[Sequence[int]]) -> int:
    """Queue reminders: items are [invitation_id, sequence] pairs (one transaction); then send."""
    settings = get_settings()
    reminders = [Reminder(int(i), int(seq)) for i, seq in items]
    claim = _inline_claim(len(reminders))
    with session_factory()() as session, session.begin():
        queued = scan.remind(
            session, campaign_id, reminders, now=_now(), secret=settings.secret(), claim=claim
        )
    _send_claimed(queued, claim)
    return len(queued.outbox_ids)

"""Sending tasks: "scan.due" (beat), "scan.invite"/"scan.remind" (fan-out: queue the rows and
send them) and "outbox.send" (send rows queued elsewhere, retries and re-drives)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog

from worker.actions import outbox, scan
from worker.celery_app import app
from worker.core.pacing import sends_inline, split_for_pacing
from worker.core.schedule import Reminder
from worker.db import session_factory
from worker.mail.smtp import get_sender
from worker.ratelimit import RateLimiter, make_limiter
from worker.settings import get_settings

log = structlog.get_logger(__name__)

_LIMITER: RateLimiter | None = None
_REDIS: Any = None


def reset_process_state() -> None:
    """After fork: no Redis connection or limiter state is shared with the parent."""
    global _LIMITER, _REDIS
    _LIMITER = None
    _REDIS = None


def _limiter(relay: str) -> RateLimiter:
    global _LIMITER
    if _LIMITER is None:
        settings = get_settings()
        _LIMITER = make_limiter(settings.resolved_redis_url(), relay, settings.smtp_rate_per_minute)
    return _LIMITER


def _redis() -> Any:
    global _REDIS
    url = get_settings().resolved_redis_url()
    if url and _REDIS is None:
        import redis

        _REDIS = redis.Redis.from_url(url)
    return _REDIS


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
        max_attempts=settings.outbox_max_attempts,
        retry_base_seconds=settings.outbox_retry_base_seconds,
    )
    _log_report(report)
    return {"claimed": report.claimed, "sent": report.sent, "retry": report.retry}


@app.task(name="scan.due", time_limit=120, soft_time_limit=100)
def scan_due() -> dict[str, int]:
    """The beat scan: decide in one transaction, then publish the work after it committed."""
    settings = get_settings()
    now = _now()
    with session_factory()() as session, session.begin():
        plan = scan.plan_scan(
            session,
            now=now,
            lease=timedelta(seconds=settings.outbox_lease_seconds),
            max_attempts=settings.outbox_max_attempts,
        )
    for campaign_id in sorted(set(plan.deliver) | set(plan.closed)):
        app.send_task("delivery.prepare", args=[campaign_id])
    if plan.redrive:
        outbox.publish(plan.redrive)
    dispatched = 0
    size = settings.outbox_batch_size
    for work in plan.work:
        invitations = _not_dispatched(
            work.campaign_id, "invitation", [(i, 0) for i in work.invitations]
        )
        for start in range(0, len(invitations), size):
            ids = [i for i, _ in invitations[start : start + size]]
            app.send_task("scan.invite", args=[work.campaign_id, ids])
            dispatched += len(ids)
        reminders = _not_dispatched(
            work.campaign_id, "reminder", [(r.invitation_id, r.sequence) for r in work.reminders]
        )
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


def _not_dispatched(
    campaign_id: int, kind: str, items: list[tuple[int, int]]
) -> list[tuple[int, int]]:
    """Skip items a recent scan already handed out (a Redis marker that expires with the lease).

    Without it, a backlog bigger than one scan interval would be fanned out again on every
    scan. Duplicates would still be harmless (rows are locked and checked), only wasteful.
    """
    client = _redis()
    if client is None or not items:
        return items
    ttl = max(1, get_settings().outbox_lease_seconds)
    pipe = client.pipeline(transaction=False)
    for inv_id, sequence in items:
        pipe.set(f"outreach:dispatch:{campaign_id}:{kind}:{inv_id}:{sequence}", 1, nx=True, ex=ttl)
    try:
        fresh = pipe.execute()
    except Exception:  # Redis down: better a harmless duplicate than nothing
        log.warning("scan.dispatch_marker_unavailable")
        return items
    return [item for item, ok in zip(items, fresh, strict=True) if ok]


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
        max_attempts=settings.outbox_max_attempts,
        retry_base_seconds=settings.outbox_retry_base_seconds,
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

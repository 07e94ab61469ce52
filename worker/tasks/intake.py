"""Intake tasks: "intake.poll" reads the mailbox, "intake.process" acts on one stored message,
"intake.process_batch" on several in one transaction."""

from __future__ import annotations

from datetime import UTC, datetime

import structlog

from worker.actions.intake import enqueue, poll_once, process_batch, process_now, sweep_stored
from worker.celery_app import app

log = structlog.get_logger(__name__)


@app.task(name="intake.process", soft_time_limit=60, time_limit=90)
def process(inbound_id: int) -> str:
    """Idempotent: a message already processed is left alone, so a redelivery is harmless.
    A failure is not retried with a countdown: the poll sweep re-enqueues what is still stored."""
    return process_now(inbound_id).action


@app.task(name="intake.process_batch", soft_time_limit=300, time_limit=360)
def process_many(inbound_ids: list[int]) -> int:
    """Idempotent like "intake.process"; a batch that fails is processed one message at a time.
    Takes other waiting messages along (`fill`). Returns how many messages were acted on."""
    return len(process_batch(inbound_ids, fill=True))


@app.task(name="intake.poll")
def poll() -> int:
    """Beat: read new mail (a no-op without OUTREACH_IMAP_URL) and re-enqueue lost messages."""
    result = poll_once()
    stale = sweep_stored(datetime.now(UTC))
    if stale:
        log.warning("intake.sweep", count=len(stale))
        enqueue(stale)
    return len(result.stored) if result else 0


__all__ = [
    "enqueue",
    "poll",
    "poll_once",
    "process",
    "process_batch",
    "process_many",
    "process_now",
    "sweep_stored",
]

"""Send outbox rows this worker holds: pace, hand each to the relay, record its answer at once."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from worker.actions.claim import (
    Claimed,
    LeaseKeeper,
    SendReport,
    claim,
    suppress_rows,
    worker_name,
)
from worker.actions.record import recording
from worker.core.retry import RetryPolicy
from worker.mail.smtp import Envelope, Sender
from worker.models import utcnow
from worker.ratelimit import Pacer, RateLimiter


def send_batch(
    session_factory: Any,
    ids: Sequence[int],
    *,
    sender: Sender,
    limiter: RateLimiter | None,
    lease: timedelta,
    policy: RetryPolicy | None = None,
    claimer: str | None = None,
    clock: Callable[[], datetime] | None = None,
) -> SendReport:
    """Claim, send and record one batch of outbox rows. Safe to run twice on the same ids."""
    now_fn = clock or utcnow
    claimer = claimer or worker_name()
    # 1. Claim (and drop rows whose recipient was suppressed since queueing) in one transaction.
    with session_factory() as session, session.begin():
        suppressed = suppress_rows(session, ids, now_fn())
        claimed = claim(session, ids, now=now_fn(), claimer=claimer, lease=lease)
    if not claimed:
        return SendReport(suppressed=suppressed)
    report = send_claimed(
        session_factory,
        claimed,
        sender=sender,
        limiter=limiter,
        claimer=claimer,
        lease=lease,
        policy=policy,
        clock=now_fn,
    )
    report.suppressed = suppressed
    return report


def send_claimed(
    session_factory: Any,
    claimed: Sequence[Claimed],
    *,
    sender: Sender,
    limiter: RateLimiter | None,
    claimer: str,
    lease: timedelta,
    policy: RetryPolicy | None = None,
    clock: Callable[[], datetime] | None = None,
) -> SendReport:
    """Send rows held under this worker's lease; each answer is committed before the next send.

    0. A heartbeat thread extends the lease of the rows not yet answered, so a slow relay or a
       long rate-limit wait never lets another worker take them, and a dead worker's rows are
       free again within one lease.
    1. Each message waits for its slot of the relay's shared rate (about a second of slots
       is reserved at a time; what is left over is given back at the end).
    2. The answer is written and committed at once (on connections held for the batch, their
       commits not waiting for the disk: record.recording): a kill loses at most the message
       in flight.
    """
    report = SendReport(claimed=len(claimed))
    if not claimed:
        return report
    now_fn = clock or utcnow
    policy = policy or RetryPolicy()
    pacer = Pacer(limiter, len(claimed))
    held = [r.id for r in claimed]
    with (
        LeaseKeeper(session_factory, claimer, held, lease, now_fn) as keeper,
        recording(session_factory) as recorder,
    ):  # 0
        try:
            for row in claimed:
                pacer.wait()  # 1
                result = sender.send_one(
                    Envelope(row.envelope_from, list(row.recipients), row.raw, row.message_id)
                )
                recorder.record(  # 2
                    row, result, now=now_fn(), claimer=claimer, policy=policy, report=report
                )
                keeper.done(row.id)
        finally:
            pacer.close()
    return report

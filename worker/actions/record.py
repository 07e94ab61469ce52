"""Write one relay answer to its outbox row, committed before the next message goes out.

So a worker killed mid-batch forgets at most the message in flight: every earlier answer is
already stored, and only that one row is sent again (with the same Message-ID) after its lease.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Connection, Engine, Table, bindparam, text, update
from sqlalchemy.orm import Session

from worker.actions import audit
from worker.actions.claim import ACTOR, Claimed, SendReport
from worker.core.audit_actions import AuditAction
from worker.core.retry import Decision, RetryPolicy, Verdict, decide
from worker.core.states import AddressState, OutboxState
from worker.mail.smtp import SendResult
from worker.models import Campaign, Contact, Invitation, OutboundMessage

# Kinds whose 550 means this contact's address is dead for the campaign.
CONTACT_KINDS = frozenset({"invitation", "reminder"})
_T = cast(Table, OutboundMessage.__table__)
_RELAXED = text("SET synchronous_commit TO OFF")
_RESET = text("RESET synchronous_commit")
# One Core statement, compiled once: it runs once per message sent.
_RECORD = (
    update(_T)
    .where(
        _T.c.id == bindparam("b_id"),
        _T.c.claimed_by == bindparam("b_claimer"),
        _T.c.state == OutboxState.SENDING.value,
    )
    .values(
        state=bindparam("b_state"),
        last_smtp_code=bindparam("b_code"),
        last_smtp_reply=bindparam("b_reply"),
        sent_at=bindparam("b_sent_at"),
        next_attempt_at=bindparam("b_next"),
        lease_until=None,
        updated_at=bindparam("b_now"),
    )
)


@dataclass(frozen=True)
class Recorder:
    """Where one batch's answers are written (see `recording`)."""

    session: Session  # the transactions of answers that change more than their own row
    quick: Connection | None  # autocommit (PostgreSQL): an answer that moves only its row

    def record(
        self,
        row: Claimed,
        result: SendResult,
        *,
        now: datetime,
        claimer: str,
        policy: RetryPolicy,
        report: SendReport,
    ) -> Verdict | None:
        """`record_result`, committed before it returns. Sent and retry move only the row:
        that one UPDATE is its own transaction (one round trip instead of BEGIN, UPDATE,
        COMMIT); a failure, with its audit row and bounce, is one transaction of the session."""
        decision = _decide(row, result, now, policy)
        if self.quick is None or decision.verdict is Verdict.FAILED:
            with self.session.begin():
                return _apply(self.session, row, result, decision, now, claimer, report)
        if not _update(self.quick, row, result, decision, now, claimer):
            return None
        _count(report, decision.verdict)
        return decision.verdict


@contextmanager
def recording(session_factory: Any) -> Iterator[Recorder]:
    """Where to record one batch's answers: connections held for the batch.

    0. Held: each answer's transaction would otherwise check a connection out of the pool
       (pool bookkeeping and, after an idle spell, a ping) for every message sent.
    1. Their commits do not wait for the disk (PostgreSQL `synchronous_commit off`, set once
       per connection and reset before it goes back to the pool): an answer is visible to
       every worker at once and survives any worker crash; only a crash of PostgreSQL itself
       within about 0.6 s could forget it, and the row is then sent again with the same
       Message-ID. It spares a disk flush per message sent.
    """
    engine = _engine_of(session_factory)
    with ExitStack() as stack:
        connection = stack.enter_context(engine.connect())  # 0
        quick: Connection | None = None
        if connection.dialect.name == "postgresql":  # 1
            quick = stack.enter_context(engine.connect())
            quick = quick.execution_options(isolation_level="AUTOCOMMIT")
            for held in (connection, quick):
                held.execute(_RELAXED)
                held.commit()
                stack.callback(_reset, held)
        session = stack.enter_context(session_factory(bind=connection))
        yield Recorder(session, quick)


def _engine_of(session_factory: Any) -> Engine:
    with session_factory() as probe:
        bind = probe.get_bind()
    return bind if isinstance(bind, Engine) else bind.engine


def _reset(connection: Connection) -> None:
    """Back to the server's commit setting before the pool hands the connection on; a
    connection that cannot say so is closed instead of reused."""
    try:
        connection.rollback()
        connection.execute(_RESET)
        connection.commit()
    except Exception:
        connection.invalidate()


def record_result(
    session: Session,
    row: Claimed,
    result: SendResult,
    *,
    now: datetime,
    claimer: str,
    policy: RetryPolicy,
    report: SendReport,
) -> Verdict | None:
    """Store the answer to one attempt (only while the claim is still ours; else None).

    0. 2xx: sent. 1. temporary (4xx, 552, no answer): retry after a backoff while the retry
    window lasts, then failed with this last answer. 2. other 5xx: failed at once, never
    retried. 3. a 550 to a contact bounces that address: the contact, its invitation and a
    suppression row record it so no further mail goes there.
    """
    decision = _decide(row, result, now, policy)
    return _apply(session, row, result, decision, now, claimer, report)


def _decide(row: Claimed, result: SendResult, now: datetime, policy: RetryPolicy) -> Decision:
    return decide(
        result.code,
        attempts=row.attempts,
        first_attempt_at=row.first_attempt_at or now,
        now=now,
        policy=policy,
        spread=random.random(),  # jitter, not a secret
    )


def _update(
    connection: Connection,
    row: Claimed,
    result: SendResult,
    decision: Decision,
    now: datetime,
    claimer: str,
) -> bool:
    """The row's own UPDATE; False when the claim is no longer ours (the lease ran out and
    someone else holds, or finished, the row)."""
    params = {
        "b_id": row.id,
        "b_claimer": claimer,
        "b_state": decision.verdict.value,
        "b_code": result.code,
        "b_reply": result.reply[:2000],
        "b_sent_at": now if decision.verdict is Verdict.SENT else None,
        "b_next": decision.next_attempt_at,
        "b_now": now,
    }
    return bool(connection.execute(_RECORD, params).rowcount)


def _count(report: SendReport, verdict: Verdict) -> None:
    if verdict is Verdict.SENT:  # 0
        report.sent += 1
    elif verdict is Verdict.RETRY:  # 1
        report.retry += 1
    else:  # 1 (window passed) and 2
        report.failed += 1


def _apply(
    session: Session,
    row: Claimed,
    result: SendResult,
    decision: Decision,
    now: datetime,
    claimer: str,
    report: SendReport,
) -> Verdict | None:
    if not _update(session.connection(), row, result, decision, now, claimer):
        return None
    _count(report, decision.verdict)
    if decision.verdict is Verdict.FAILED:
        audit.record(
            session,
            actor=ACTOR,
            entity="outbound_message",
            entity_id=row.id,
            action=AuditAction.SEND_FAILED,
            campaign_id=row.campaign_id,
            from_state=OutboxState.SENDING.value,
            to_state=OutboxState.FAILED.value,
            detail={
                "code": result.code,
                "reply": result.reply[:500],
                "attempts": row.attempts,
                "why": decision.reason,
            },
        )
        if result.code == 550 and row.kind in CONTACT_KINDS and row.contact_id is not None:  # 3
            bounce_contact(session, row, result, now=now)
            report.bounced_contacts.append(row.contact_id)
    return decision.verdict


def bounce_contact(session: Session, row: Claimed, result: SendResult, *, now: datetime) -> None:
    """The relay refused the address for good: the one bounce path (actions/bounces.py), as
    for a bounce email. The address is marked and suppressed, the invitation bounced, the
    organisation's next address invited, and the lead told (published after the commit)."""
    # bounces -> notices -> outbox -> record: imported here to keep the module graph acyclic.
    from worker.actions.bounces import record_bounce
    from worker.actions.outbox import publish_after_commit
    from worker.actions.reply_context import Context
    from worker.actions.suppression import suppress
    from worker.settings import get_settings

    contact = session.get(Contact, row.contact_id)
    if contact is None:
        return
    contact.updated_at = now
    invitation = session.get(Invitation, row.invitation_id) if row.invitation_id else None
    campaign = session.get(Campaign, row.campaign_id)
    if invitation is None or campaign is None or invitation.contact_id != contact.id:
        contact.address_state = AddressState.BOUNCED.value
        suppress(session, contact.email, AuditAction.BOUNCED, row.campaign_id, actor=ACTOR)
        return
    ctx = Context(session, campaign, invitation, None, now, get_settings().secret(), ACTOR)
    record_bounce(
        ctx,
        permanent=True,
        recipient=contact.email,
        reasons=[result.reply[:500]],
        smtp_code=result.code,
        # Numbered by the outbox row, apart from reports on received bounces (by inbound id).
        report_sequence=-row.id,
        report_key=f"outbox-{row.id}",
        move_action=AuditAction.SMTP_REJECTED,
    )
    publish_after_commit(session, ctx.outbox_ids)

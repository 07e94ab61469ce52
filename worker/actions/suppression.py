"""The suppression list: one home for "never write to this address again" and its check."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import ColumnElement, Exists, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from worker.actions import audit
from worker.actions.reply_context import Context, move_invitation
from worker.core.audit_actions import AuditAction
from worker.core.states import InvitationState
from worker.models import Suppression

_INDEX = "outreach.suppressed_index"  # on session.info: (addresses asked, those suppressed)


def normalise(email: str) -> str:
    """Addresses are compared lower-cased and stripped everywhere (one rule, one place)."""
    return email.strip().lower()


def is_suppressed(session: Session, email: str) -> bool:
    """True when no email may go to this address (unsubscribed or bounced for good)."""
    return (
        session.scalar(select(Suppression.id).where(Suppression.email == normalise(email)))
        is not None
    )


def suppressed_addresses(session: Session) -> set[str]:
    """Every suppressed address (lower-cased), for checks over many contacts at once."""
    return set(session.scalars(select(Suppression.email)))


def suppressed_among(session: Session, addresses: Iterable[str]) -> set[str]:
    """Which of these addresses are suppressed (lower-cased). Rows are stored lower-cased by
    `suppress`, so the comparison uses the unique index. Answered from memory while a batch
    holds an index (`index_suppressed`) that covers them."""
    wanted = {normalise(a) for a in addresses}
    if not wanted:
        return set()
    index: tuple[set[str], set[str]] | None = session.info.get(_INDEX)
    if index is not None and wanted <= index[0]:
        return wanted & index[1]
    return set(session.scalars(select(Suppression.email).where(Suppression.email.in_(wanted))))


def index_suppressed(session: Session, addresses: Iterable[str]) -> None:
    """Ask about these addresses once, for a batch; `suppress` keeps the answer true until
    `drop_suppressed_index` (it is the one place that adds addresses)."""
    asked = {normalise(a) for a in addresses}
    session.info[_INDEX] = (asked, suppressed_among(session, asked) if asked else set())


def drop_suppressed_index(session: Session) -> None:
    session.info.pop(_INDEX, None)


def suppressed_clause(email: ColumnElement[str]) -> Exists:
    """SQL: the address in `email` (a column) is suppressed; for queries over many rows."""
    return select(Suppression.id).where(Suppression.email == func.lower(email)).exists()


def suppress(
    session: Session, email: str, reason: audit.Action, campaign_id: int | None, *, actor: str
) -> None:
    """Add the address once (a second call is a no-op) and audit it. The reason (bounced,
    unsubscribed) is stored and is the audit action."""
    reason = AuditAction(reason)  # ValueError for a reason that is no audit action
    email = normalise(email)
    index: tuple[set[str], set[str]] | None = session.info.get(_INDEX)
    if index is not None:  # whichever way below, the address ends up suppressed
        index[0].add(email)
        index[1].add(email)
    if is_suppressed(session, email):
        return
    # Two workers may suppress the same address at once: the unique email decides, quietly.
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    new_id = session.scalar(
        insert(Suppression)
        .values(email=email, reason=reason.value, campaign_id=campaign_id)
        .on_conflict_do_nothing()
        .returning(Suppression.id)
    )
    if new_id is None:
        return
    audit.record(
        session,
        actor=actor,
        entity="suppression",
        entity_id=new_id,
        action=reason,
        campaign_id=campaign_id,
        detail={"email": email},
    )


def unsubscribe(ctx: Context, *, decided_by: str) -> None:
    """No further email to this address, the final "delivered" notice included."""
    suppress(
        ctx.session, ctx.contact.email, AuditAction.UNSUBSCRIBED, ctx.campaign.id, actor=ctx.actor
    )
    move_invitation(
        ctx, InvitationState.UNSUBSCRIBED, AuditAction.UNSUBSCRIBED, {"decided_by": decided_by}
    )
    ctx.invitation.answered_at = ctx.invitation.answered_at or ctx.now

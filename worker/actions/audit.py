"""The audit log: one call records who changed what, from which state to which."""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import Any, cast

from sqlalchemy import Connection, CursorResult, Table, insert, update
from sqlalchemy.orm import Session

from worker.core.audit_actions import AuditAction
from worker.core.states import S, check_transition
from worker.models import AuditLog, Signature

# What the functions below accept as an action: an AuditAction, so mypy finds any free string;
# an unknown name raises ValueError too, before anything is written.
Action = AuditAction


def action_name(action: Action) -> str:
    """The stored value of `action`, which must be an `AuditAction` (ValueError otherwise)."""
    return AuditAction(action).value


def record(
    session: Session,
    *,
    actor: str,
    entity: str,
    entity_id: int | None,
    action: Action,
    campaign_id: int | None = None,
    from_state: str | None = None,
    to_state: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    session.add(
        AuditLog(
            actor=actor,
            entity=entity,
            entity_id=entity_id,
            action=action_name(action),
            campaign_id=campaign_id,
            from_state=from_state,
            to_state=to_state,
            detail=detail,
        )
    )


def event(
    session: Session,
    row: Any,
    *,
    actor: str,
    action: Action,
    campaign_id: int | None = None,
    from_state: str | None = None,
    to_state: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """`record` something that happened to `row`: its table names the entity, its id the
    entity id, its `campaign_id` (unless one is given: a campaign row has none) the campaign.

    A new signature need not be flushed first: the entry holds the row and the flush fills in
    its id (`AuditLog.signature_row`)."""
    entry = AuditLog(
        actor=actor,
        entity=type(row).__tablename__,
        action=action_name(action),
        campaign_id=campaign_id if campaign_id is not None else getattr(row, "campaign_id", None),
        from_state=from_state,
        to_state=to_state,
        detail=detail,
    )
    if row.id is None and isinstance(row, Signature):
        entry.signature_row = row
    else:
        entry.entity_id = row.id
    session.add(entry)


def record_many(session: Session | Connection, entries: Sequence[dict[str, Any]]) -> None:
    """Many `record` calls as one INSERT (each entry holds `record`'s keyword arguments, its
    "action" an `AuditAction`).

    Written at once rather than at the next flush, in the caller's transaction.
    """
    if not entries:
        return
    table = cast(Table, AuditLog.__table__)
    rows = [
        {
            "actor": e["actor"],
            "entity": e["entity"],
            "entity_id": e.get("entity_id"),
            "action": action_name(e["action"]),
            "campaign_id": e.get("campaign_id"),
            "from_state": e.get("from_state"),
            "to_state": e.get("to_state"),
            "detail": e.get("detail"),
        }
        for e in entries
    ]
    session.execute(insert(table), rows)


def move(
    session: Session,
    row: Any,
    table: dict[S, frozenset[S]],
    target: S,
    *,
    actor: str,
    action: Action,
    campaign_id: int | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Change `row.state` after checking the transition table, and audit it."""
    current = type(target)(row.state)
    check_transition(table, current, target)
    row.state = target.value
    event(
        session,
        row,
        actor=actor,
        action=action,
        campaign_id=campaign_id,
        from_state=current.value,
        to_state=target.value,
        detail=detail,
    )


def move_where(
    session: Session,
    model: Any,
    table: dict[S, frozenset[S]],
    from_states: Sequence[S],
    target: S,
    *criteria: Any,
    values: dict[str, Any] | None = None,
) -> int:
    """A conditional UPDATE of `model.state` that the transition table allows.

    Every `from_states -> target` move is checked first (IllegalTransition before any SQL);
    then `UPDATE ... SET state = target WHERE state IN from_states AND criteria`, so two
    workers racing for one row both ask and only one gets rowcount 1. Returns the rowcount;
    the caller audits what it moved (it knows which rows and why).
    """
    for current in from_states:
        check_transition(table, current, target)
    result = session.execute(
        update(model)
        .where(model.state.in_([s.value for s in from_states]), *criteria)
        .values(state=target.value, **(values or {}))
        .execution_options(synchronize_session=False)
    )
    return int(cast("CursorResult[Any]", result).rowcount)


__all__ = [
    "Action",
    "AuditAction",
    "StrEnum",
    "action_name",
    "event",
    "move",
    "move_where",
    "record",
    "record_many",
]

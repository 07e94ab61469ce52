"""Replay the audit log against the state tables (worker.core.states.STATE_MACHINES).

Every entry's action must be an `AuditAction` value, every audited state change must be a move
its table allows, each entity's entries must chain
(one entry's `to_state` is the next one's `from_state`), and for the machines whose every
write is audited the last `to_state` must be the state the row holds now.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from worker.core.audit_actions import AuditAction
from worker.core.states import STATE_MACHINES
from worker.models import AuditLog

# Entities whose every state write goes through the audit log (their final state is checked).
FULLY_AUDITED = ("campaign", "invitation", "signature", "review_item")


def replay(session: Session, *, after_id: int = 0) -> tuple[int, list[str]]:
    """(how many moves were checked, the problems found: empty when the log is consistent).

    `after_id` skips the entries written while a fixture set rows up by hand."""
    tables = {table: machine for (table, column), machine in STATE_MACHINES.items()}
    actions = {a.value for a in AuditAction}
    last: dict[tuple[str, int], str] = {}
    problems: list[str] = []
    checked = 0
    for entry in session.scalars(
        select(AuditLog).where(AuditLog.id > after_id).order_by(AuditLog.id)
    ):
        if entry.action not in actions:
            problems.append(f"audit {entry.id}: unknown action {entry.action!r}")
        machine = tables.get(entry.entity)
        if machine is None or entry.entity_id is None or entry.to_state is None:
            continue
        key = (entry.entity, entry.entity_id)
        states = {s.value: s for s in machine}
        where = f"audit {entry.id} {entry.entity} {entry.entity_id} {entry.action!r}"
        if entry.to_state not in states:
            problems.append(f"{where}: unknown state {entry.to_state!r}")
            continue
        before = entry.from_state or last.get(key)
        if entry.from_state and key in last and last[key] != entry.from_state:
            problems.append(f"{where}: from {entry.from_state!r} but the log left it {last[key]!r}")
        if before is not None and before != entry.to_state:
            checked += 1
            if before not in states or states[entry.to_state] not in machine[states[before]]:
                problems.append(f"{where}: {before!r} -> {entry.to_state!r} is not in the table")
        last[key] = entry.to_state
    for (entity, entity_id), state in last.items():
        if entity not in FULLY_AUDITED:
            continue
        column = next(c for (t, c) in STATE_MACHINES if t == entity)
        now: Any = session.execute(
            text(f"SELECT {column} FROM {entity} WHERE id = :id"), {"id": entity_id}
        ).scalar()
        if now is not None and now != state:
            problems.append(f"{entity} {entity_id}: the log ends at {state!r}, the row is {now!r}")
    return checked, problems

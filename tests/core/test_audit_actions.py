"""Audit actions are named once (worker/core/audit_actions.py) and never as a free string."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from worker.core.audit_actions import AuditAction, resolved

REPO = Path(__file__).resolve().parents[2]
WORKER = REPO / "worker"

# Calls that take an action positionally: function name -> index of that argument.
POSITIONAL_ACTION = {"move_invitation": 2, "suppress": 2, "_move": 4}

# Every value stored before the enum existed (issue 10). Rows and signed evidence manifests
# hold them: each must stay a value of AuditAction, spelled exactly so.
STORED_BEFORE_THE_ENUM = frozenset(
    {
        "approved", "awaiting_approval", "bounce-deferred", "bounced", "campaign.created",
        "campaign.updated", "confirmed", "contact.created", "contact.updated",
        "created-after-bounce", "deadline_passed", "declined", "declined-late",
        "final_letter.approved", "final_letter.awaiting_approval", "final_letter.delivered",
        "final_letter.prepared", "final_letter.queued", "final_letter.rebuilt",
        "invitation.created", "invited", "lease_expired_held", "letter.previewed",
        "manual_retry", "opened", "organisation.created", "organisation.updated", "pause",
        "question", "reading.confirmed", "reminded", "remind-not-before", "renamed",
        "replaced", "resolved:decline", "resolved:ignore", "resolved:question",
        "resolved:sign", "resolved:unsubscribe", "resolved_resend", "resolved_sent", "resume",
        "retry_window_passed", "send_failed", "signed", "signed-again", "smtp_rejected",
        "start", "stored", "stored-duplicate", "suppressed", "uidvalidity-changed",
        "unsubscribed", "user.created", "user.updated", "withdrawn",
    }
)  # fmt: skip


def _is_action_name(name: str | None) -> bool:
    return name is not None and (name == "action" or name.endswith("_action"))


def _has_literal(node: ast.AST | None) -> bool:
    """A string literal or f-string, also as a branch of `a if c else b` or `a or b`."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str)
    if isinstance(node, ast.JoinedStr):
        return True
    if isinstance(node, ast.IfExp):
        return _has_literal(node.body) or _has_literal(node.orelse)
    if isinstance(node, ast.BoolOp):
        return any(_has_literal(v) for v in node.values)
    if isinstance(node, ast.List | ast.Tuple | ast.Set):
        return any(_has_literal(e) for e in node.elts)
    return False


def _is_action_column(node: ast.AST) -> bool:
    """`AuditLog.action` (a reader comparing the stored value)."""
    return (
        isinstance(node, ast.Attribute)
        and node.attr == "action"
        and isinstance(node.value, ast.Name)
        and node.value.id == "AuditLog"
    )


def _called_name(func: ast.AST) -> str | None:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def literal_actions(source: str) -> list[tuple[int, str]]:
    """(line, what) for every action written as a string literal in `source`."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            for kw in node.keywords:
                if _is_action_name(kw.arg) and _has_literal(kw.value):
                    found.append((kw.value.lineno, f"{kw.arg}= literal"))
            index = POSITIONAL_ACTION.get(_called_name(node.func) or "")
            if index is not None and len(node.args) > index and _has_literal(node.args[index]):
                found.append((node.lineno, f"{_called_name(node.func)}(...) literal action"))
            func = node.func
            if (
                isinstance(func, ast.Attribute)
                and func.attr == "in_"
                and _is_action_column(func.value)
                and any(_has_literal(a) for a in node.args)
            ):
                found.append((node.lineno, "AuditLog.action.in_(literals)"))
        elif isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values, strict=True):
                if (
                    isinstance(key, ast.Constant)
                    and _is_action_name(str(key.value))
                    and _has_literal(value)
                ):
                    found.append((value.lineno, f'"{key.value}": literal'))
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                pairs: list[tuple[ast.AST, ast.AST | None]] = [(target, node.value)]
                if isinstance(target, ast.Tuple) and isinstance(node.value, ast.Tuple):
                    pairs = list(zip(target.elts, node.value.elts, strict=False))
                for name, value in pairs:
                    if (
                        isinstance(name, ast.Name)
                        and _is_action_name(name.id)
                        and _has_literal(value)
                    ):
                        found.append((name.lineno, f"{name.id} = literal"))
        elif isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            if any(_is_action_column(s) for s in sides) and any(_has_literal(s) for s in sides):
                found.append((node.lineno, "AuditLog.action compared with a literal"))
    return sorted(found)


def _sources() -> list[tuple[str, str]]:
    return [
        (path.relative_to(REPO).as_posix(), path.read_text(encoding="utf-8"))
        for path in sorted(WORKER.rglob("*.py"))
        if "migrations" not in path.parts
    ]


def test_no_audit_action_is_written_as_a_string_literal_in_worker() -> None:
    problems = [
        f"{name}:{line}: {what} (use worker.core.audit_actions.AuditAction)"
        for name, source in _sources()
        for line, what in literal_actions(source)
    ]
    assert problems == [], "\n".join(problems)


@pytest.mark.parametrize(
    ("source", "count"),
    [
        ('audit.record(s, action="stored")', 1),
        ('audit.event(s, r, action=f"user.{outcome}")', 1),
        ('audit.move(s, r, t, x, action="bounced" if p else "bounce-deferred")', 1),
        ('record_bounce(ctx, move_action="smtp_rejected")', 1),
        ('entries.append({"action": "suppressed", "actor": "x"})', 1),
        ('target, action = OutboxState.HELD, "lease_expired_held"', 1),
        ('move_invitation(ctx, InvitationState.DECLINED, "declined-late")', 1),
        ('select(AuditLog).where(AuditLog.action == "smtp_rejected")', 1),
        ('AuditLog.action.in_(["final_letter.prepared"])', 1),
        ("audit.record(s, action=AuditAction.STORED)", 0),
        ('log.info("intake.processed", action=outcome.action)', 0),
        ('Outcome(inbound_id, "missing", "none")', 0),
        ('g.get("action", "").lower() == "failed"', 0),
    ],
)
def test_the_scan_finds_literal_actions_in_every_form(source: str, count: int) -> None:
    assert len(literal_actions(source)) == count


def test_every_action_value_is_declared_once() -> None:
    """`@unique` refuses aliases at import; the class body is read too, in case it goes."""
    module = ast.parse((WORKER / "core" / "audit_actions.py").read_text(encoding="utf-8"))
    body = next(
        n for n in module.body if isinstance(n, ast.ClassDef) and n.name == "AuditAction"
    ).body
    values = [
        s.value.value
        for s in body
        if isinstance(s, ast.Assign) and isinstance(s.value, ast.Constant)
    ]
    assert len(values) == len(set(values)) == len(AuditAction.__members__) == len(AuditAction)


def test_every_value_stored_before_the_enum_is_still_a_value() -> None:
    values = {a.value for a in AuditAction}
    assert sorted(STORED_BEFORE_THE_ENUM - values) == []


def test_every_review_resolution_has_its_resolved_action() -> None:
    from worker.actions.review import Resolution

    assert {resolved(r.value) for r in Resolution} == {
        a for a in AuditAction if a.value.startswith("resolved:")
    }
    assert resolved("sign") is AuditAction.RESOLVED_SIGN
    with pytest.raises(ValueError, match="resolved:revived"):
        resolved("revived")


def test_an_unknown_action_name_is_refused_before_anything_is_written() -> None:
    from worker.actions.audit import action_name

    assert action_name("stored-duplicate") == "stored-duplicate"
    assert type(action_name(AuditAction.STORED)) is str
    with pytest.raises(ValueError, match="revived"):
        action_name("revived")

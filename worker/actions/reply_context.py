"""The reply being acted on (`Context`), what acting did (`Outcome`), and the invitation move."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from worker.actions import audit
from worker.core.states import INVITATION_TRANSITIONS, InvitationState
from worker.models import Campaign, Contact, InboundMessage, Invitation

ACTOR = "intake"


@dataclass
class Outcome:
    """What processing did, for tasks, the CLI and tests."""

    inbound_id: int
    state: str
    action: str
    invitation_id: int | None = None
    outbox_ids: list[int] = field(default_factory=list)


@dataclass
class Context:
    """One reply being acted on (or a lead's decision about one)."""

    session: Session
    campaign: Campaign
    invitation: Invitation
    inbound: InboundMessage | None
    now: datetime
    secret: bytes
    actor: str
    outbox_ids: list[int] = field(default_factory=list)

    @property
    def contact(self) -> Contact:
        return self.invitation.contact


def move_invitation(
    ctx: Context,
    target: InvitationState,
    action: audit.Action,
    detail: dict[str, Any] | None = None,
) -> bool:
    """Move the invitation if the table allows it; False (and nothing changed) otherwise."""
    current = InvitationState(ctx.invitation.state)
    if current is target:
        return False
    if target not in INVITATION_TRANSITIONS[current]:
        return False
    audit.move(
        ctx.session,
        ctx.invitation,
        INVITATION_TRANSITIONS,
        target,
        actor=ctx.actor,
        action=action,
        detail={**(detail or {}), "inbound_message_id": ctx.inbound.id if ctx.inbound else None},
    )
    return True

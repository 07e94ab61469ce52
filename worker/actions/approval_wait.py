"""The approval wait, told apart from trouble: a final letter held for a lead's approval.

Both are outbox rows in `held` (the web console and `outbox resolve` rely on that), but only
one needs attention: a letter held after a crash. `status` and the metrics count the approval
wait on its own, so an alert on `held` fires only on real trouble.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from worker.core.kinds import EmailKind
from worker.core.states import CampaignState, OutboxState
from worker.models import Campaign, OutboundMessage


def count_awaiting_approval(session: Session, *where: Any) -> int:
    """Held final letters whose campaign waits for approval (`where` narrows the outbox rows)."""
    n = session.scalar(
        select(func.count())
        .select_from(OutboundMessage)
        .join(Campaign, Campaign.id == OutboundMessage.campaign_id)
        .where(
            *where,
            OutboundMessage.state == OutboxState.HELD.value,
            OutboundMessage.kind == EmailKind.FINAL_LETTER,
            Campaign.state == CampaignState.AWAITING_APPROVAL.value,
        )
    )
    return int(n or 0)

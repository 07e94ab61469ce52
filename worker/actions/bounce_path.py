"""Read what `core.bounce_path` judges: mail to contacts sent, reports read, addresses refused."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from worker.core.audit_actions import AuditAction
from worker.core.bounce_path import BounceTraffic, BounceVerdict, judge_bounce_path
from worker.core.kinds import INVITING_KINDS
from worker.core.states import OutboxState
from worker.core.tokens import sender_bounce_address
from worker.models import AuditLog, Campaign, InboundMessage, OutboundMessage

EXAMPLE_TOKEN = "TOKEN"  # noqa: S105 (a placeholder shown to people, not a secret)


def bounce_traffic(session: Session) -> BounceTraffic:
    sent, first = session.execute(
        select(func.count(OutboundMessage.id), func.min(OutboundMessage.sent_at)).where(
            OutboundMessage.state == OutboxState.SENT.value,
            OutboundMessage.kind.in_(INVITING_KINDS),
        )
    ).one()
    reports, last = session.execute(
        select(func.count(InboundMessage.id), func.max(InboundMessage.received_at)).where(
            InboundMessage.intent == "bounce"
        )
    ).one()
    refused = session.scalar(
        select(func.count(AuditLog.id)).where(AuditLog.action == AuditAction.SMTP_REJECTED)
    )
    addresses: list[str] = []
    separate = False
    for definition in session.scalars(select(Campaign.definition)):
        sender = (definition or {}).get("sender") or {}
        if not sender.get("reply_local_part") or not sender.get("reply_domain"):
            continue
        addresses.append(sender_bounce_address(sender, EXAMPLE_TOKEN))
        own = sender.get("bounce_local_part")
        separate = separate or bool(own and own != sender["reply_local_part"])
    return BounceTraffic(
        sent=int(sent or 0),
        first_sent_at=first,
        reports=int(reports or 0),
        last_report_at=last,
        refused_at_smtp=int(refused or 0),
        bounce_addresses=tuple(dict.fromkeys(addresses)),
        separate_mailbox=separate,
    )


def bounce_path_verdict(session: Session, now: datetime) -> BounceVerdict:
    return judge_bounce_path(bounce_traffic(session), now)

"""Delivery task: "delivery.prepare" moves a closed campaign one step towards the ministry."""

from __future__ import annotations

from datetime import UTC, datetime

import structlog

from worker.actions import deliver
from worker.celery_app import app
from worker.db import session_factory
from worker.errors import UserError

log = structlog.get_logger(__name__)


@app.task(name="delivery.prepare")
def prepare(campaign_id: int) -> str:
    """Idempotent: the scan calls it on every tick for campaigns in closing or delivering.

    A problem a person must fix (e.g. the ministry address is suppressed) is logged and left
    for the next tick; nothing is stored for it.
    """
    try:
        with session_factory()() as session, session.begin():
            outcome = deliver.prepare(session, campaign_id, now=datetime.now(UTC))
    except UserError as exc:
        log.error("delivery.blocked", campaign_id=campaign_id, error=str(exc))
        return "blocked"
    if outcome.action not in ("nothing", "waiting"):
        log.info(
            "delivery.prepare",
            campaign_id=campaign_id,
            action=outcome.action,
            state=outcome.campaign_state,
            outbox_ids=outcome.outbox_ids,
            **outcome.detail.get("counts", {}),
        )
    return outcome.action

"""Read model of the outbox page (failed and held mail) and the web's retry / resolve / export."""

from __future__ import annotations

import io
import tempfile
import zipfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from worker.actions import deliver
from worker.actions.evidence import export_evidence
from worker.actions.outbox import retry_failed
from worker.actions.overview import campaign_or_404
from worker.core.states import OutboxState
from worker.errors import NotFound
from worker.models import OutboundMessage

SHOWN_STATES = (OutboxState.FAILED.value, OutboxState.HELD.value)


@dataclass(frozen=True)
class MailRow:
    id: int
    kind: str
    state: str
    recipients: tuple[str, ...]
    subject: str
    attempts: int
    last_reply: str
    updated_at: datetime
    awaits_approval: bool  # the held final letter before approval: decided on the letter page


def mail_problems(session: Session, slug: str) -> list[MailRow]:
    """The campaign's failed and held messages, newest first."""
    campaign = campaign_or_404(session, slug)
    rows = session.scalars(
        select(OutboundMessage)
        .where(OutboundMessage.campaign_id == campaign.id,
               OutboundMessage.state.in_(SHOWN_STATES))
        .order_by(OutboundMessage.id.desc())
    )  # fmt: skip
    return [
        MailRow(r.id, r.kind, r.state, tuple(r.recipients), r.subject, r.attempts,
                r.last_smtp_reply or "", r.updated_at,
                campaign.state == "awaiting_approval" and r.kind == deliver.FINAL_KIND)
        for r in rows
    ]  # fmt: skip


def _own_row(session: Session, slug: str, outbox_id: int) -> None:
    campaign = campaign_or_404(session, slug)
    row = session.get(OutboundMessage, outbox_id)
    if row is None or row.campaign_id != campaign.id:
        raise NotFound(f"no outbox message {outbox_id} in campaign {slug}")


def retry(session: Session, slug: str, outbox_id: int, *, actor: str, now: datetime) -> None:
    """A failed message goes back to the queue (refused for a suppressed address)."""
    _own_row(session, slug, outbox_id)
    retry_failed(session, outbox_id, actor=actor, now=now)


def resolve_held(
    session: Session, slug: str, outbox_id: int, *, sent: bool, actor: str, now: datetime
) -> str:
    """A message held after a crash: a person says whether it went out (sent) or not (resend)."""
    _own_row(session, slug, outbox_id)
    return deliver.resolve(session, outbox_id, sent=sent, actor=actor, now=now).action


def evidence_zip(session: Session, slug: str, *, keys_dir: Path, now: datetime) -> bytes:
    """signatories.csv and every raw reply, as the CLI's `outreach evidence` writes them, zipped."""
    campaign = campaign_or_404(session, slug)
    buffer = io.BytesIO()
    with tempfile.TemporaryDirectory(prefix="outreach-evidence-") as scratch:
        folder = Path(scratch)
        folder = folder / "evidence"
        export_evidence(session, campaign, folder, keys_dir=keys_dir, now=now)
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(folder.rglob("*")):
                if path.is_file():
                    archive.write(path, f"{slug}-evidence/{path.relative_to(folder)}")
    return buffer.getvalue()

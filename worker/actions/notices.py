"""Emails that answer a reply: to the contact (acknowledgement, late reply) or to the lead."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from worker.actions.outbox import QueueItem
from worker.actions.outbox_buffer import queue_row
from worker.actions.reply_context import Context
from worker.actions.suppression import suppressed_among
from worker.core.decode import parse_message, part_text
from worker.core.kinds import EmailKind
from worker.mail.outgoing import PreparedEmail, prepare_contact_email, prepare_lead_email
from worker.models import Organisation


def sequence(ctx: Context) -> int:
    """Emails answering a message are numbered by it, so processing twice queues nothing new."""
    return ctx.inbound.id if ctx.inbound else 0


def _thread(ctx: Context) -> dict[str, Any]:
    """Answers are threaded under the message they answer."""
    mid = ctx.inbound.message_id if ctx.inbound else None
    return {"in_reply_to": mid} if mid else {}


def queue_contact(
    ctx: Context, kind: str, sequence: int, extra: dict[str, Any] | None = None
) -> None:
    """Queue an email to the invited contact, unless the address is suppressed."""
    if suppressed_among(ctx.session, [ctx.contact.email]):
        return
    prepared = prepare_contact_email(
        ctx.campaign,
        ctx.invitation,
        kind,
        sequence,
        secret=ctx.secret,
        now=ctx.now,
        extra={**_thread(ctx), **(extra or {})},
    )
    _queue(ctx, kind, sequence, prepared, to_contact=True, not_suppressed=[ctx.contact.email])


def queue_lead(
    ctx: Context, kind: str, sequence: int, extra: dict[str, Any], *, key: str | None = None
) -> None:
    """Queue an email to the campaign's lead (a forwarded question, a bounce report).

    `key` (default "inbound-<sequence>") makes its Message-ID; reports on something other
    than a received message name it (e.g. "outbox-42")."""
    ctx.session.flush()
    inbound = ctx.inbound
    prepared = prepare_lead_email(
        ctx.campaign,
        kind,
        sequence,
        key=key or f"inbound-{sequence}",
        now=ctx.now,
        extra={**_thread(ctx), **extra},
        reply_to=inbound.from_addr if inbound and kind == EmailKind.QUESTION_FORWARD else None,
    )
    _queue(ctx, kind, sequence, prepared, to_contact=False)


def _queue(
    ctx: Context,
    kind: str,
    sequence: int,
    prepared: PreparedEmail,
    *,
    to_contact: bool,
    not_suppressed: Sequence[str] = (),
) -> None:
    """Queue the prepared email (held until the batch writes, in a batch); remember a new
    row's id for publishing after the commit."""
    item = QueueItem(
        campaign_id=ctx.campaign.id,
        kind=kind,
        sequence=sequence,
        prepared=prepared,
        contact_id=ctx.contact.id if to_contact else None,
        invitation_id=ctx.invitation.id if to_contact else None,
    )
    queue_row(ctx.session, item, not_suppressed=not_suppressed, ids=ctx.outbox_ids)


def org_name(organisation: Organisation) -> str:
    """How a person recognises the organisation: both names when there are two."""
    names = [n for n in (organisation.name_en, organisation.name_ja) if n]
    return " / ".join(names) or organisation.key


def body_preview(raw: bytes, limit: int = 4000) -> str:
    """The first text part of a raw message, for a lead who reads it in an email."""
    for part in parse_message(raw).walk():
        if part.get_content_type() in ("text/plain", "text/html"):
            return part_text(part)[:limit]
    return ""

"""Turn a campaign and an invitation (or its lead) into the exact bytes of one outgoing email."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime
from typing import Any

from worker.core import tokens
from worker.core.decode import lf_line_ends
from worker.errors import UserError
from worker.mail.compose import Attachment, compose
from worker.mail.context import contact_context, definition_value, lead_context, localised
from worker.mail.render import RenderedEmail, render_email
from worker.models import Campaign, Invitation
from worker.settings import get_settings

# RFC 3834. Answers to an NGO's own message are "auto-replied"; reports to the lead are
# "auto-generated". Invitations and reminders carry no Auto-Submitted: they ask a person for a
# personal answer, and an out-of-office reply to them is wanted (its "back on" date delays the
# next reminder), which an Auto-Submitted header would suppress at many responders.
AUTO_SUBMITTED = {
    "acknowledgement": "auto-replied",
    "late_reply": "auto-replied",
    "question_forward": "auto-generated",
    "bounce_report": "auto-generated",
    "delivered_notice": "auto-generated",
}
FINAL_KIND = "final_letter"
_KEY = re.compile(r"^[A-Za-z0-9._-]{1,100}$")
# Mail that asks an NGO to sign carries the one-click unsubscribe link (OUTREACH_PUBLIC_URL).
ONE_CLICK_KINDS = frozenset({"invitation", "reminder"})
UNSUBSCRIBE_PATH = "/unsubscribe/"  # + the invitation's token; served by `outreach web`


def unsubscribe_url(public_url: str, token: str) -> str:
    """The https address that unsubscribes one invitation's contact in one click."""
    return public_url.rstrip("/") + UNSUBSCRIBE_PATH + token


@dataclass(frozen=True)
class PreparedEmail:
    envelope_from: str
    recipients: tuple[str, ...]
    message_id: str
    subject: str
    language: str
    raw: bytes
    # The text/plain parts as reading `raw` gives them (None: only reading `raw` tells).
    texts: tuple[str, ...] | None = None


def _thread_headers(extra: Mapping[str, Any] | None) -> dict[str, str]:
    """In-Reply-To/References when the email answers a message (extra["in_reply_to"])."""
    parent = (extra or {}).get("in_reply_to")
    if not parent:
        return {}
    return {"In-Reply-To": str(parent), "References": str(parent)}


def prepare_contact_email(
    campaign: Campaign,
    invitation: Invitation,
    kind: str,
    sequence: int,
    *,
    secret: bytes,
    now: datetime,
    extra: Mapping[str, Any] | None = None,
    attachments: Sequence[Attachment] = (),
) -> PreparedEmail:
    """The email of `kind` (invitation, reminder, acknowledgement, late_reply,
    delivered_notice with its PDF) to one contact.

    Deterministic but for the Date header: the same invitation, kind and sequence always give
    the same Message-ID (`<kind.sequence.TOKEN@reply_domain>`), Reply-To and envelope sender.
    """
    context = contact_context(
        campaign,
        invitation,
        kind=kind,
        secret=secret,
        extra={"sequence": sequence, **(extra or {})},
    )
    lang: str = context["lang"]
    rendered = render_email(kind, lang, context)
    sender = definition_value(campaign, "sender")
    token: str = context["token"]
    headers = {
        "List-Unsubscribe": f"<{context['unsubscribe_mailto']}>",
        "Content-Language": lang,
        **_thread_headers(extra),
    }
    public_url = get_settings().public_url
    if kind in ONE_CLICK_KINDS and public_url.startswith("https://"):
        # RFC 8058: the https link first (one-click, POST), the mailto variant as before.
        url = unsubscribe_url(public_url, context["token"])
        headers["List-Unsubscribe"] = f"<{url}>, <{context['unsubscribe_mailto']}>"
        headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    if kind in AUTO_SUBMITTED:
        headers["Auto-Submitted"] = AUTO_SUBMITTED[kind]
        headers["X-Auto-Response-Suppress"] = "All"  # no out-of-office answers to a notice
    message_id = tokens.message_id(token, kind, sequence, sender["reply_domain"])
    return _prepared(
        sender, lang, rendered, message_id, now,
        to=[(context["display_name"], invitation.contact.email)],
        reply_to=context["reply_address"],
        headers=headers,
        attachments=attachments,
        envelope_from=tokens.sender_bounce_address(sender, token),
    )  # fmt: skip


def prepare_lead_email(
    campaign: Campaign,
    kind: str,
    sequence: int,
    *,
    key: str,
    now: datetime,
    extra: Mapping[str, Any] | None,
    lang: str | None = None,
    reply_to: str | None = None,
) -> PreparedEmail:
    """A report to sender.lead_email (question_forward, bounce_report).

    `key` makes the Message-ID unique and stable (e.g. "inbound-42"); `lang` defaults to the
    campaign's first language; `reply_to` lets the lead answer the NGO directly.
    """
    if not _KEY.match(key):
        raise ValueError(f"message key {key!r}: use letters, digits, '.', '_' or '-'")
    lang = lang or (campaign.languages or ["en"])[0]
    context = lead_context(campaign, kind, lang=lang, extra={"sequence": sequence, **(extra or {})})
    rendered = render_email(kind, lang, context)
    sender = definition_value(campaign, "sender")
    message_id = tokens.message_id(key, kind, sequence, sender["reply_domain"])
    headers = {"Content-Language": lang, **_thread_headers(extra)}
    headers["Auto-Submitted"] = AUTO_SUBMITTED.get(kind, "auto-generated")
    lead = sender["lead_email"]
    if not lead:
        raise UserError(f"campaign {campaign.slug}: sender.lead_email is empty")
    return _prepared(
        sender, lang, rendered, message_id, now,
        to=[("", lead)],
        reply_to=reply_to,
        headers=headers,
        envelope_from=tokens.sender_bounce_address(sender),
    )  # fmt: skip


def prepare_ministry_email(
    campaign: Campaign,
    context: Mapping[str, Any],
    *,
    to: tuple[str, str],
    cc: Sequence[str],
    attachments: Sequence[Attachment],
    now: datetime,
) -> PreparedEmail:
    """The final letter to the ministry (`to` is (display name, address)), with its PDFs.

    The Message-ID depends on the campaign only, so a rebuild keeps it.
    """
    lang: str = context["lang"]
    rendered = render_email(FINAL_KIND, lang, context)
    sender = definition_value(campaign, "sender")
    message_id = tokens.message_id(campaign.slug, FINAL_KIND, 0, sender["reply_domain"])
    return _prepared(
        sender, lang, rendered, message_id, now,
        to=[to],
        cc=[("", address) for address in cc],
        reply_to=sender["lead_email"],
        headers={"Content-Language": lang},
        attachments=attachments,
        envelope_from=tokens.sender_bounce_address(sender),
    )  # fmt: skip


def _prepared(
    sender: Mapping[str, Any],
    lang: str,
    rendered: RenderedEmail,
    message_id: str,
    now: datetime,
    *,
    to: Sequence[tuple[str, str]],
    cc: Sequence[tuple[str, str]] = (),
    reply_to: str | None,
    headers: Mapping[str, str],
    attachments: Sequence[Attachment] = (),
    envelope_from: str,
) -> PreparedEmail:
    """The rendered email composed from the campaign's sender, with its envelope: every
    recipient in To and Cc gets it."""
    raw = compose(
        sender=(localised(sender["name"], lang), sender["address"]),
        to=to,
        cc=cc,
        reply_to=reply_to,
        subject=rendered.subject,
        text=rendered.text,
        html=rendered.html,
        message_id=message_id,
        date=now,
        headers=headers,
        attachments=list(attachments),
    )
    return PreparedEmail(
        envelope_from=envelope_from,
        recipients=tuple(address for _, address in [*to, *cc]),
        message_id=message_id,
        subject=rendered.subject,
        language=lang,
        raw=raw,
        # Written without attachments, `raw` holds the text as its one text/plain part, which
        # reads back with its line ends as LF (tests/intake/test_sent_texts.py).
        texts=None if attachments else (lf_line_ends(rendered.text),),
    )


_DATE_HEADER = re.compile(rb"^Date:[^\r\n]*(\r?\n[ \t][^\r\n]*)*", re.MULTILINE | re.IGNORECASE)


def redated(raw: bytes, when: datetime) -> bytes:
    """`raw` with its Date: header set to `when` (a held message is dated when it is released,
    not when it was prepared). Only the header block is touched; the body stays byte for byte."""
    head, sep, body = raw.partition(b"\r\n\r\n")
    if not sep:
        head, sep, body = raw.partition(b"\n\n")
    line = b"Date: " + format_datetime(when).encode("ascii")
    new_head, count = _DATE_HEADER.subn(line, head, count=1)
    if count == 0:
        new_head = head + (b"\r\n" if b"\r\n" in head else b"\n") + line
    return new_head + sep + body

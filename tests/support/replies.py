"""Replies as NGOs' mail clients write them, built from the emails we sent (tests only)."""

from __future__ import annotations

import email.policy
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from worker.core.decode import parse_headers, parse_message, part_text


def text_of(raw: bytes) -> str:
    """The text/plain part of a message, decoded."""
    for part in parse_message(raw).walk():
        if part.get_content_type() == "text/plain":
            return part_text(part)
    return ""


def reply_to(
    original: bytes,
    body: str,
    *,
    sender: str,
    to: str | None = None,
    quote: bool = True,
    headers: dict[str, str] | None = None,
    date: datetime | None = None,
) -> bytes:
    """A reply as a mail client writes it: Re: subject, threaded, the original quoted below."""
    date = date or datetime.now(UTC)
    parsed = parse_message(original)
    message = EmailMessage(policy=email.policy.SMTP)
    message["From"] = sender
    message["To"] = to or str(parsed.get("Reply-To") or parsed.get("From"))
    message["Subject"] = "Re: " + parse_headers(original).subject
    message["Date"] = format_datetime(date)
    message["Message-ID"] = make_msgid(domain=sender.rsplit("@", 1)[-1].strip(">"))
    message["In-Reply-To"] = str(parsed["Message-ID"])
    message["References"] = str(parsed["Message-ID"])
    for key, value in (headers or {}).items():
        del message[key]
        message[key] = value
    text = body
    if quote:
        quoted = "\n".join("> " + line for line in text_of(original).splitlines())
        text += f"\n\nOn {format_datetime(date)}, {parsed['From']} wrote:\n{quoted}\n"
    message.set_content(text)
    return message.as_bytes()

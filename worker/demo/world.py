"""The world outside, simulated: an SMTP server that captures, NGOs whose mail clients reply."""

from __future__ import annotations

import threading
from datetime import datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import format_datetime, formataddr, make_msgid, parseaddr
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from worker.demo.scenario import (
    DECLINE_TEXT,
    ISO_2022_JP,
    OUT_OF_OFFICE_TEXT,
    QUESTION_TEXT,
    REQUESTED_NAME,
    SIGN_NAMED_TEXT,
    SIGN_TEXT,
    Captured,
    Scenario,
)

# --- the outside world: an SMTP server that captures, NGOs that reply -------------------------


class CaptureHandler:
    """aiosmtpd handler: every accepted message becomes `mail/NNN-<recipient>.eml`."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.lock = threading.Lock()
        self.captured: list[Captured] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw: bytes = envelope.original_content or envelope.content
        with self.lock:
            number = len(self.captured) + 1
            first = envelope.rcpt_tos[0] if envelope.rcpt_tos else "unknown"
            path = self.folder / f"{number:03d}-{safe_name(first)}.eml"
            path.write_bytes(raw)
            parsed = BytesParser(policy=policy.default).parsebytes(raw)
            assert isinstance(parsed, EmailMessage)
            self.captured.append(
                Captured(path, envelope.mail_from, list(envelope.rcpt_tos), parsed)
            )
        return "250 Message accepted for delivery"

    def snapshot(self) -> list[Captured]:
        with self.lock:
            return list(self.captured)


def safe_name(address: str) -> str:
    return "".join(c if c.isalnum() or c in "@.-_+" else "_" for c in address)[:80]


def _text_of(message: EmailMessage) -> str:
    body = message.get_body(("plain",))
    if body is None:
        return ""
    content = body.get_content()
    return str(content)


def _wrap(line: str, columns: int = 72) -> list[str]:
    """Split a line as a mail client does when it quotes: at most `columns` display columns."""
    import unicodedata

    pieces: list[str] = []
    current, width = "", 0
    for char in line:
        w = 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1
        if width + w > columns:
            pieces.append(current)
            current, width = "", 0
        current += char
        width += w
    pieces.append(current)
    return pieces


def _quote(message: EmailMessage, lang: str) -> str:
    when = message.get("Date", "")
    sender = message.get("From", "")
    lines = [piece for line in _text_of(message).splitlines() for piece in _wrap(line)]
    quoted = "\n".join("> " + line if line else ">" for line in lines)
    if lang == "ja":
        try:
            from email.utils import parsedate_to_datetime

            local = parsedate_to_datetime(str(when)).astimezone(ZoneInfo("Asia/Tokyo"))
            stamp = f"{local.year}年{local.month}月{local.day}日 {local:%H:%M}"
        except (TypeError, ValueError):
            stamp = str(when)
        return f"{stamp} {sender}:\n\n{quoted}\n"
    return f"On {when}, {sender} wrote:\n\n{quoted}\n"


def build_reply(
    invitation: Captured, scenario: Scenario, lang: str, now: datetime, person: str
) -> tuple[str, list[str], bytes]:
    """The NGO's answer to an invitation it received: (envelope from, recipients, bytes)."""
    msg = invitation.message
    contact = parseaddr(str(msg["To"]))[1]
    reply_to = parseaddr(str(msg.get("Reply-To") or msg["From"]))[1]
    domain = contact.rsplit("@", 1)[-1]
    subject = str(msg.get("Subject", ""))

    if scenario is Scenario.BOUNCE:
        return _bounce(invitation, contact, now)

    reply = EmailMessage()
    reply["From"] = formataddr((person, contact))
    reply["To"] = str(msg.get("Reply-To") or msg["From"])
    reply["Date"] = format_datetime(now)
    reply["Message-ID"] = make_msgid(domain=domain)
    reply["In-Reply-To"] = str(msg["Message-ID"])
    reply["References"] = str(msg["Message-ID"])
    reply["MIME-Version"] = "1.0"
    if scenario is Scenario.OUT_OF_OFFICE:
        reply["Subject"] = ("自動応答: " if lang == "ja" else "Automatic reply: ") + subject
        reply["Auto-Submitted"] = "auto-replied"
        reply["X-Autoreply"] = "yes"
        reply.set_content(OUT_OF_OFFICE_TEXT[lang] + "\n")
        return contact, [reply_to], bytes(reply)
    reply["Subject"] = "Re: " + subject
    if scenario is Scenario.SIGN:
        answer = SIGN_TEXT[lang]
    elif scenario is Scenario.SIGN_NAMED:
        answer = SIGN_NAMED_TEXT.replace("{name}", REQUESTED_NAME)
    elif scenario is Scenario.DECLINE:
        answer = DECLINE_TEXT[lang]
    else:
        answer = QUESTION_TEXT[lang]
    text = answer.replace("{person}", person) + "\n\n" + _quote(msg, lang)
    try:
        if contact in ISO_2022_JP:
            reply.set_content(text, charset="iso-2022-jp", cte="7bit")
        else:
            reply.set_content(text, charset="utf-8")
    except (UnicodeEncodeError, LookupError):  # a character JIS X 0208 lacks
        reply.set_content(text, charset="utf-8")
    return contact, [reply_to], bytes(reply)


def _bounce(invitation: Captured, contact: str, now: datetime) -> tuple[str, list[str], bytes]:
    """An RFC 3464 delivery status notification (as Postfix writes it), to the VERP address."""
    mta = "mx." + contact.rsplit("@", 1)[-1]
    boundary = make_msgid(domain=mta).strip("<>").replace("@", "=_")
    original = invitation.message
    original_headers = "".join(
        f"{k}: {v}\n"
        for k, v in original.items()
        if k.lower() in {"from", "to", "subject", "message-id", "date", "reply-to"}
    )
    diagnostic = (
        f"550 5.1.1 <{contact}>: Recipient address rejected: User unknown in virtual mailbox table"
    )
    text = (
        f"From: Mail Delivery System <MAILER-DAEMON@{mta}>\n"
        f"To: {invitation.mail_from}\n"
        "Subject: Undelivered Mail Returned to Sender\n"
        f"Date: {format_datetime(now)}\n"
        f"Message-ID: {make_msgid(domain=mta)}\n"
        "Auto-Submitted: auto-replied\n"
        "MIME-Version: 1.0\n"
        f'Content-Type: multipart/report; report-type=delivery-status; boundary="{boundary}"\n'
        "\n"
        "This is a MIME-encapsulated message.\n\n"
        f"--{boundary}\n"
        "Content-Type: text/plain; charset=us-ascii\n\n"
        f"This is the mail system at host {mta}.\n\n"
        "I'm sorry to have to inform you that your message could not\n"
        "be delivered to one or more recipients.\n\n"
        f"<{contact}>: host {mta} said: {diagnostic}\n\n"
        f"--{boundary}\n"
        "Content-Type: message/delivery-status\n\n"
        f"Reporting-MTA: dns; {mta}\n"
        f"Arrival-Date: {format_datetime(now)}\n\n"
        f"Final-Recipient: rfc822; {contact}\n"
        f"Original-Recipient: rfc822;{contact}\n"
        "Action: failed\n"
        "Status: 5.1.1\n"
        f"Remote-MTA: dns; {mta}\n"
        f"Diagnostic-Code: smtp; {diagnostic}\n\n"
        f"--{boundary}\n"
        "Content-Type: text/rfc822-headers\n\n"
        f"{original_headers}\n"
        f"--{boundary}--\n"
    )
    raw = text.encode("ascii", "replace")
    return "", [invitation.mail_from], raw

"""Build one correct MIME message (headers, UTF-8 text + HTML, attachments) as bytes to send."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.header import Header
from email.mime.application import MIMEApplication
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import format_datetime, formataddr
from typing import Any

from worker.errors import Problem, UserError

# The compat32 MIME classes with CRLF line ends: the same stdlib encoders as EmailMessage
# (RFC 2047 headers, base64 bodies) at about a third of the cost per message (measured on the
# seed invitation); the header registry's parse-and-refold is the slow part of EmailMessage.
_POLICY = policy.compat32.clone(linesep="\r\n", max_line_length=76)  # encoded words <= 75
_MAX_LINE = 900  # a 7bit body line longer than this would break the SMTP 998-octet limit
_HEADER_NAME = re.compile(r"^[!-9;-~]+$")  # RFC 5322 ftext: printable ASCII except ':'
_RESERVED = frozenset(
    h.lower()
    for h in (
        "Date", "Message-ID", "From", "To", "Cc", "Bcc", "Reply-To", "Subject",
        "MIME-Version", "Content-Type", "Content-Transfer-Encoding",
    )
)  # fmt: skip


class HeaderInjection(UserError):
    """A header value carries a line break (or a header name is malformed): refused, never sent."""

    def __init__(self, header: str, value: str) -> None:
        message = (
            f"{header} contains a line break ({value[:60]!r}); a header must be one line. "
            "Fix the name or text it came from (a CR/LF there could inject headers)."
        )
        super().__init__(message, [Problem(header, None, "contains CR or LF")])
        self.header = header


@dataclass(frozen=True)
class Attachment:
    filename: str
    content: bytes
    content_type: str = "application/pdf"


def _line(header: str, value: str) -> str:
    if "\r" in value or "\n" in value:
        raise HeaderInjection(header, value)
    return value


def _encoded_name(name: str) -> str:
    """A name or subject as RFC 2047 encoded words (base64 UTF-8, each at most 75 chars).

    Readers join adjacent encoded words without the folding space between them (RFC 2047
    section 6.2); CPython 3.11's modern `display_name` keeps a space there, which is its bug.
    """
    return Header(name, "utf-8", maxlinelen=75).encode()


def _address(header: str, pair: tuple[str, str]) -> str:
    name, addr = pair
    _line(f"{header} display name", name)
    _line(f"{header} address", addr)
    local, at, domain = addr.rpartition("@")
    if not at or not local or not domain or not addr.isascii() or " " in addr:
        raise UserError(
            f"{header}: {addr!r} is not a deliverable ASCII email address",
            [Problem(header, "address", "not an ASCII address with @")],
        )
    if not name or name.isascii():
        return formataddr((name, addr))
    return f"{_encoded_name(name)} <{addr}>"


def _text_part(body: str, subtype: str) -> MIMEText:
    if body.isascii() and all(len(line) <= _MAX_LINE for line in body.splitlines()):
        return MIMEText(body, subtype, "us-ascii", policy=_POLICY)
    return MIMEText(body, subtype, "utf-8", policy=_POLICY)  # base64, 76-column lines


def compose(
    *,
    sender: tuple[str, str],
    to: Sequence[tuple[str, str]],
    cc: Sequence[tuple[str, str]] = (),
    reply_to: str | None,
    subject: str,
    text: str,
    html: str | None,
    message_id: str,
    date: datetime,
    headers: Mapping[str, str] | None = None,
    attachments: Sequence[Attachment] = (),
) -> bytes:
    """The message as CRLF bytes ready for SMTP DATA.

    Structure: text/plain alone, or multipart/alternative (text, html), wrapped in
    multipart/mixed when there are attachments. Every header value is checked for CR/LF first,
    so no name, subject or address can add a header of its own.
    """
    if not to:
        raise UserError("a message needs at least one To: recipient")
    if date.tzinfo is None:
        raise ValueError("the Date header needs an aware datetime")
    extra = dict(headers or {})
    for name, value in extra.items():
        if not _HEADER_NAME.match(name) or name.lower() in _RESERVED:
            raise HeaderInjection(f"header name {name!r}", name)
        _line(name, value)
    if "List-Unsubscribe-Post" in extra and "<https:" not in extra.get("List-Unsubscribe", ""):
        raise UserError(
            "List-Unsubscribe-Post (RFC 8058 one-click) needs an https: URI in List-Unsubscribe"
        )
    _line("Subject", subject)
    _line("Message-ID", message_id)
    if reply_to is not None:
        _line("Reply-To", reply_to)

    # 1. the body: text, or text + HTML as alternatives, then attachments around it
    body: MIMEBase = _text_part(text, "plain")
    if html is not None:
        parts = [body, _text_part(html, "html")]
        for part in parts:
            del part["MIME-Version"]  # only the top level carries it
        body = MIMEMultipart("alternative", None, parts, policy=_POLICY)
    msg = body
    if attachments:
        del body["MIME-Version"]
        msg = MIMEMultipart("mixed", None, [body], policy=_POLICY)
        for attachment in attachments:
            maintype, _, subtype = attachment.content_type.partition("/")
            if maintype != "application" or not subtype:
                raise UserError(
                    f"attachment {attachment.filename}: only application/* is supported"
                )
            part = MIMEApplication(attachment.content, subtype, policy=_POLICY)
            filename = _line("attachment filename", attachment.filename)
            part.add_header(
                "Content-Disposition",
                "attachment",
                filename=filename if filename.isascii() else ("utf-8", "", filename),
            )
            msg.attach(part)

    # 2. the headers, each value already checked to be a single line
    msg["Date"] = format_datetime(date)
    msg["Message-ID"] = message_id
    msg["From"] = _address("From", sender)
    msg["To"] = ", ".join(_address("To", pair) for pair in to)
    if cc:
        msg["Cc"] = ", ".join(_address("Cc", pair) for pair in cc)
    if reply_to:
        msg["Reply-To"] = reply_to
    # A Header object is folded by the generator at 76 columns: no word passes 75 chars.
    encoded: Any = Header(subject, "utf-8", header_name="Subject")
    msg["Subject"] = subject if subject.isascii() else encoded
    for name, value in extra.items():
        msg[name] = value if value.isascii() else _encoded_name(value)
    return msg.as_bytes(policy=_POLICY)

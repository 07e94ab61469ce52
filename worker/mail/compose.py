"""Build one correct MIME message (headers, UTF-8 text + HTML, attachments) as bytes to send."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.header import Header
from email.mime.application import MIMEApplication
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import format_datetime, formataddr
from typing import Any

from worker.errors import Problem, UserError
from worker.mail import mime

# The compat32 MIME classes with CRLF line ends: the same stdlib encoders as EmailMessage
# (RFC 2047 headers, base64 bodies) at about a third of the cost per message (measured on the
# seed invitation); the header registry's parse-and-refold is the slow part of EmailMessage.
# Bulk shapes (text, text + HTML) are written directly by mail/mime.py, byte for byte the same.
_POLICY = mime.POLICY  # CRLF, 76 columns: encoded words <= 75
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
    if mime.is_plain_ascii(body):
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

    # 1. the headers, in the order the message carries them, each value checked to be one line
    fields: list[tuple[str, str | mime.Words]] = [
        ("Date", format_datetime(date)),
        ("Message-ID", message_id),
        ("From", _address("From", sender)),
        ("To", ", ".join(_address("To", pair) for pair in to)),
    ]
    if cc:
        fields.append(("Cc", ", ".join(_address("Cc", pair) for pair in cc)))
    if reply_to:
        fields.append(("Reply-To", reply_to))
    # A Header object is folded by the generator at 76 columns: no word passes 75 chars.
    fields.append(("Subject", subject if subject.isascii() else mime.Words(subject)))
    fields.extend((n, v if v.isascii() else _encoded_name(v)) for n, v in extra.items())

    # 2. the body: written directly in the shapes we send in bulk, else by the standard library
    boundary = mime.boundary_for(message_id, [text, html or ""])
    if not attachments:
        return direct_bytes(text, html, fields, boundary)
    return stdlib_bytes(text, html, fields, boundary, attachments)


def direct_bytes(
    text: str, html: str | None, fields: Sequence[tuple[str, str | mime.Words]], boundary: str
) -> bytes:
    """The message without attachments, written by worker/mail/mime.py."""
    top, body = mime.text_part(text, "plain", top=True)
    if html is not None:
        parts = [mime.text_part(text, "plain", top=False), mime.text_part(html, "html", top=False)]
        top, body = mime.alternative(parts, boundary)
    return mime.write(top, fields, body)


def stdlib_bytes(
    text: str,
    html: str | None,
    fields: Sequence[tuple[str, str | mime.Words]],
    boundary: str | None,
    attachments: Sequence[Attachment] = (),
) -> bytes:
    """The same message built with `email.mime` and flattened by the generator (attachments,
    and the reference `direct_bytes` is tested against)."""
    # text, or text + HTML as alternatives, then attachments around it
    body: MIMEBase = _text_part(text, "plain")
    if html is not None:
        parts = [body, _text_part(html, "html")]
        for part in parts:
            del part["MIME-Version"]  # only the top level carries it
        body = MIMEMultipart("alternative", boundary, parts, policy=_POLICY)
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
    for name, value in fields:
        header: Any = value.header(name) if isinstance(value, mime.Words) else value
        msg[name] = header  # typeshed: str only; the library takes a Header as well
    return msg.as_bytes(policy=_POLICY)

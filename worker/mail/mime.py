"""Write the bytes of a text or text + HTML message directly, exactly as compat32 would.

Building `email.mime` objects and flattening them with the generator cost about 1 ms per
invitation (two thirds of the worker's CPU per message sent): every header goes through the
`Header` folding machine, base64 runs in a Python loop, and the boundary search compiles a
fresh regex. The shapes we send in bulk are fixed, so they are written here directly; a
header that needs folding is handed to the very function the generator uses, so the bytes
stay identical (tests/mail/test_mime.py compares both writers over many inputs).
"""

from __future__ import annotations

import binascii
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from email import policy
from email.header import Header
from functools import lru_cache
from typing import Any

from worker.core.decode import lf_line_ends

CRLF = "\r\n"
_WIDTH = 76
# compose.py's policy: what the generator folds and encodes with.
POLICY = policy.compat32.clone(linesep=CRLF, max_line_length=_WIDTH)
_MAX_LINE = 900  # as compose.py: a longer 7bit body line would break the SMTP 998-octet limit


def is_plain_ascii(body: str) -> bool:
    """Whether a body goes out as us-ascii 7bit (compose.py's rule), else UTF-8 base64."""
    return body.isascii() and all(len(line) <= _MAX_LINE for line in body.splitlines())


@dataclass(frozen=True)
class Words:
    """A header value to send as RFC 2047 UTF-8 encoded words (a `Header` to the library)."""

    text: str

    def header(self, name: str) -> Header:
        return Header(self.text, "utf-8", header_name=name)


def header_line(name: str, value: str | Words) -> str:
    """`Name: value` + CRLF, folded as compat32 folds it.

    0. A short printable ASCII value comes back from the `Header` fold unchanged, and one
       long word goes on a continuation line of its own (checked against the fold by the
       tests); neither pays for the fold.
    1. Any other value is folded by the library, once per distinct value: the sender's name
       and the subject repeat across a campaign.
    """
    if (
        isinstance(value, str)
        and value.isascii()
        and value.isprintable()
        and value == value.strip()
    ):
        if len(name) + 2 + len(value) <= _WIDTH:  # 0
            return f"{name}: {value}{CRLF}"
        if " " not in value:
            return f"{name}: {CRLF} {value}{CRLF}"
    return _folded(name, value)  # 1


@lru_cache(maxsize=1024)
def _folded(name: str, value: str | Words) -> str:
    folded: Any = value.header(name) if isinstance(value, Words) else value  # typeshed: str
    return str(POLICY.fold(name, folded))


def _lines(text: str) -> str:
    """The generator's line handling: every line ending becomes CRLF, nothing is added."""
    return lf_line_ends(text).replace("\n", CRLF)


def _base64_lines(data: bytes) -> str:
    """base64 in 76-column CRLF lines, as the library's (57 input bytes a line), in one pass."""
    if not data:
        return ""
    flat = binascii.b2a_base64(data, newline=False).decode("ascii")
    return "".join([flat[i : i + _WIDTH] + CRLF for i in range(0, len(flat), _WIDTH)])


def text_part(body: str, subtype: str, *, top: bool) -> tuple[list[tuple[str, str]], str]:
    """The headers and encoded body of one text part (MIMEText's, in its order).

    Text that UTF-8 cannot carry (lone surrogates) raises UnicodeEncodeError, as MIMEText does.
    """
    if is_plain_ascii(body):
        charset, cte, encoded = "us-ascii", "7bit", _lines(body)
    else:
        data = body.encode("utf-8")
        charset, cte = "utf-8", "base64"
        encoded = _base64_lines(data)
    headers = [("Content-Type", f'text/{subtype}; charset="{charset}"')]
    if top:
        headers.append(("MIME-Version", "1.0"))
    headers.append(("Content-Transfer-Encoding", cte))
    return headers, encoded


def boundary_for(message_id: str, bodies: Sequence[str]) -> str:
    """A boundary that none of the parts contains (a function of the Message-ID, so a
    message built twice is the same but for its Date)."""
    seed = message_id
    while True:
        boundary = "=_" + hashlib.sha256(seed.encode("utf-8", "replace")).hexdigest()[:24]
        if not any(boundary in body for body in bodies):  # base64 never holds "=_"
            return boundary
        seed += "+"


def write(
    top: list[tuple[str, str]], headers: Sequence[tuple[str, str | Words]], body: str
) -> bytes:
    """Headers (the part's own first, then the message's) and the body, as CRLF bytes."""
    head = "".join(header_line(name, value) for name, value in (*top, *headers))
    return (head + CRLF + body).encode("ascii")


def alternative(
    parts: Sequence[tuple[list[tuple[str, str]], str]], boundary: str
) -> tuple[list[tuple[str, str]], str]:
    """A multipart/alternative of encoded parts: its own headers and its body."""
    chunks = [f"--{boundary}{CRLF}"]
    for index, (headers, body) in enumerate(parts):
        if index:
            chunks.append(f"{CRLF}--{boundary}{CRLF}")
        chunks.extend(header_line(name, value) for name, value in headers)
        chunks.append(CRLF)
        chunks.append(body)
    chunks.append(f"{CRLF}--{boundary}--{CRLF}")
    own = [
        ("Content-Type", f'multipart/alternative; boundary="{boundary}"'),
        ("MIME-Version", "1.0"),
    ]
    return own, "".join(chunks)

"""Work caps: how much reading one received message may cost before a person looks instead."""

from __future__ import annotations

import re
from email.message import Message

MAX_TEXT_BYTES = 1_000_000  # all text/plain and text/html parts together (a reply is ~5 kB)
MAX_MIME_PARTS = 200
MAX_MIME_DEPTH = 12  # multipart inside multipart (forwards of forwards stay far below)
MAX_HTML_NESTING = 64  # open <blockquote>/<div> tags without their close

_TAG = re.compile(rb"<\s*(/?)\s*(blockquote|div)\b", re.IGNORECASE)


def html_nesting(html: bytes) -> int:
    """The deepest run of unclosed <blockquote>/<div> tags (a linear scan, no parser)."""
    depth = deepest = 0
    for m in _TAG.finditer(html):
        depth = max(0, depth - 1) if m.group(1) else depth + 1
        deepest = max(deepest, depth)
    return deepest


def over_limits(msg: Message) -> tuple[str, ...]:
    """Why this message is too costly to classify; empty when it is within every cap.

    The caller sends a message over a cap to review without classifying it, so a hostile
    message costs a bounded amount of work and can never be acted on by a truncated reading.
    """
    reasons: list[str] = []
    text_bytes = 0
    parts = 0
    stack: list[tuple[Message, int]] = [(msg, 1)]
    deepest = 1
    while stack:
        part, depth = stack.pop()
        parts += 1
        deepest = max(deepest, depth)
        if parts > MAX_MIME_PARTS or depth > MAX_MIME_DEPTH:
            break
        payload = part.get_payload()
        if isinstance(payload, list):
            stack.extend((p, depth + 1) for p in payload if isinstance(p, Message))
            continue
        if part.get_content_maintype() != "text" or not isinstance(payload, str):
            continue
        size = len(payload)
        text_bytes += size
        if part.get_content_subtype() == "html":
            nesting = html_nesting(payload.encode("utf-8", "surrogateescape"))
            if nesting > MAX_HTML_NESTING:
                reasons.append(f"html-nesting: {nesting} levels (cap {MAX_HTML_NESTING})")
    if parts > MAX_MIME_PARTS:
        reasons.append(f"mime-parts: more than {MAX_MIME_PARTS}")
    if deepest > MAX_MIME_DEPTH:
        reasons.append(f"mime-depth: more than {MAX_MIME_DEPTH} levels")
    if text_bytes > MAX_TEXT_BYTES:
        reasons.append(f"text-size: {text_bytes} bytes of text (cap {MAX_TEXT_BYTES})")
    return tuple(reasons)

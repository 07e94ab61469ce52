"""Does a delivery report prove it answers a message we sent? Only then may it change an address.

Anyone can write "Final-Recipient: info@ngo.example; Action: failed" and mail it to us. Two
things only a real bounce of our own message carries:
- the VERP envelope sender we used for that invitation (`signon+bounce-TOKEN@domain`, see
  tokens.bounce_address), to which the MTA addressed the report (Delivered-To, X-Original-To, To);
- the Message-ID of one of our messages, inside the returned headers (message/rfc822,
  text/rfc822-headers, or the copy pasted into the notice).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from email.message import Message

from worker.core.decode import part_text
from worker.core.tokens import find_tokens, is_bounce_address

_MSGID_LINE = re.compile(r"^\s*message-id\s*:\s*(<[^<>\s]+>)", re.IGNORECASE | re.MULTILINE)
_MAX_PARTS = 50


def returned_message_ids(msg: Message) -> list[str]:
    """Message-IDs found in the returned headers of a report (never the report's own)."""
    found: list[str] = []
    seen = 0
    for part in msg.walk():
        seen += 1
        if seen > _MAX_PARTS:
            break
        if part is msg:
            continue
        ctype = part.get_content_type()
        if ctype == "message/rfc822":
            payload = part.get_payload()
            inner = payload[0] if isinstance(payload, list) and payload else None
            if isinstance(inner, Message) and inner.get("Message-ID"):
                found.extend(re.findall(r"<[^<>\s]+>", str(inner.get("Message-ID"))))
        elif ctype in ("text/rfc822-headers", "text/plain") and not part.is_multipart():
            found.extend(_MSGID_LINE.findall(part_text(part)[:200_000]))
    return list(dict.fromkeys(found))


def bounce_proof(
    *,
    token: str,
    recipients: Sequence[str],
    returned_ids: Sequence[str],
    our_message_ids: Collection[str],
) -> str | None:
    """How this report proves it is about the invitation with `token`; None: no proof.

    1. It was addressed to that invitation's VERP bounce address.
    2. The returned headers carry one of the Message-IDs we sent for that invitation.
    """
    # 1.
    for address in recipients:
        if is_bounce_address(address) and token in find_tokens([address]):
            return f"bounce-proof: sent to our VERP address {address}"
    # 2.
    for mid in returned_ids:
        if mid in our_message_ids:
            return f"bounce-proof: returned headers carry our Message-ID {mid}"
    return None

"""Check a received message's DKIM signatures with dkimpy; the verdict is made in core."""

from __future__ import annotations

import re
from collections.abc import Callable

import dkim
import structlog
from dkim.util import parse_tag_value

from worker.core.authentication import DkimCheck

log = structlog.get_logger(__name__)

MAX_SIGNATURES = 3  # each costs a DNS query; real mail carries one or two
DNS_TIMEOUT_SECONDS = 5

TxtLookup = Callable[..., bytes | None]


def _default_txt(name: bytes, timeout: int = DNS_TIMEOUT_SECONDS) -> bytes | None:
    from dkim.dnsplug import get_txt

    result: bytes | None = get_txt(name, timeout=timeout)
    return result


# A line that starts a DKIM-Signature field. dkimpy splits lines at CRLF or LF, reads header
# fields up to the first empty line, and a field's name up to its first colon; a message with
# no such line in that block has no signature to verify, and dkimpy's parse of the whole
# message (a reply quoting our letter is mostly body) is skipped.
_SIGNATURE_LINE = re.compile(rb"^dkim-signature:", re.IGNORECASE | re.MULTILINE)

# dkimpy reads header fields up to its first empty line (lines end in CRLF or LF).
_EMPTY_LINE = re.compile(rb"\n\r?\n")


def _header_end(raw: bytes) -> int:
    found = _EMPTY_LINE.search(raw)
    return found.end() if found is not None else len(raw)


# The DNS TXT lookup dkimpy uses; tests point it at keys they generated.
txt_lookup: TxtLookup = _default_txt


def check_dkim(raw: bytes, lookup: TxtLookup | None = None) -> list[DkimCheck]:
    """Verify each DKIM-Signature (the first MAX_SIGNATURES); never raises.

    A signature that cannot be parsed, whose key cannot be fetched, or whose hashes differ is
    a failed check carrying the reason, so the evidence says what happened.
    """
    if not _SIGNATURE_LINE.search(raw, 0, _header_end(raw)):  # none dkimpy could read
        return []
    return verify_signatures(raw, lookup or txt_lookup)


def verify_signatures(raw: bytes, resolve: TxtLookup) -> list[DkimCheck]:
    """`check_dkim` without the shortcut: dkimpy parses the whole message first."""
    try:
        verifier = dkim.DKIM(raw, timeout=DNS_TIMEOUT_SECONDS)
        headers = [v for k, v in verifier.headers if k.lower() == b"dkim-signature"]
    except Exception as exc:  # an unparseable message has no checkable signature
        log.info("dkim.unparseable", error=type(exc).__name__)
        return []
    checks: list[DkimCheck] = []
    for index, value in enumerate(headers[:MAX_SIGNATURES]):
        try:
            tags = parse_tag_value(value)
        except Exception:
            tags = {}
        domain = _text(tags.get(b"d", b""))
        selector = _text(tags.get(b"s", b""))
        try:
            passed = bool(verifier.verify(idx=index, dnsfunc=resolve))
            detail = "ok" if passed else "signature or body hash does not match"
        except Exception as exc:  # dkim.DKIMException and friends: a failed check
            passed = False
            detail = f"{type(exc).__name__}: {exc}"[:200]
        checks.append(DkimCheck(domain.lower(), selector, passed, detail))
    return checks


def _text(value: bytes) -> str:
    return value.decode("ascii", "replace").strip()

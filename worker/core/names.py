"""The organisation name a reply asks to be listed under, with its exact characters."""

from __future__ import annotations

import re
from collections.abc import Sequence

# A label and the value after it on the same line (form fields and explicit requests).
_LABELLED = re.compile(
    r"(?:organi[sz]ation(?:'s)? name|name of (?:the |our )?organi[sz]ation|org(?:anisation)? name"
    r"|listing name|name for the (?:letter|listing)|signatory name)"
    r"\s*(?:\([^)]*\)|（[^）]*）)?\s*[:：]\s*(?P<value>.+)"
    r"|(?:団体名|組織名|掲載名|表記|ご?署名名|掲載団体名)\s*(?:\([^)]*\)|（[^）]*）)?\s*[:：]\s*(?P<ja>.+)",
    re.IGNORECASE,
)
_REQUEST = re.compile(
    r"(?:list(?:ed)?|include|add|print|show|mention|credit)\s+(?:us|our (?:name|organi[sz]ation))"
    r"\s+(?:on the letter\s+)?as[:：]?\s+(?P<value>.+)"
    r"|(?:our|the) name should (?:appear|read|be (?:listed|printed|shown)) as[:：]?\s+(?P<v2>.+)"
    r"|(?:sign|listed) (?:on|under) the name[:：]?\s+(?P<v3>.+)",
    re.IGNORECASE,
)
_JA_REQUEST = re.compile(
    r"[「『](?P<value>[^」』]{2,80})[」』]\s*(?:として|の名前?で|の名義で|と)(?:ご?掲載|記載|表記|お?載せ)"
)
_QUOTE_PAIRS = {'"': '"', "“": "”", "”": "”", "'": "'", "‘": "’", "「": "」", "『": "』",
                "«": "»", "＂": "＂"}
_ABBREVIATION_END = re.compile(r"(?:\b(?:Inc|Ltd|Co|Corp|Assn|Int|St|Jr)|\b\w\.\w)\.$")


def _clean(value: str) -> str | None:
    """Trim spaces, surrounding quotes/brackets and sentence punctuation; keep everything else."""
    value = value.strip()
    if value and value[0] in _QUOTE_PAIRS:
        close = _QUOTE_PAIRS[value[0]]
        end = value.find(close, 1)
        if end > 1:
            return value[1:end].strip() or None
        value = value[1:]
    # 1. cut at the end of the sentence: ". Thanks", "。よろしく"
    m = re.search(r"(?<=\S)[.。](?=\s+\S|\s*$)|。", value)
    if m and not _ABBREVIATION_END.search(value[: m.end()]):
        value = value[: m.start()]
    value = value.strip().rstrip(",;、，").strip()
    if value and value[-1] in "”\"’'」』" and value[0] not in _QUOTE_PAIRS:
        value = value[:-1].strip()
    if value.startswith(("(", "（")) and value.endswith((")", "）")):
        return None  # a bracketed instruction, not a name
    return value or None


def extract_name(raw_lines: Sequence[str]) -> tuple[str | None, str]:
    """The requested listing and the line it came from, from the sender's own lines only.

    Order: 1. a filled-in label ("Organisation name (as it should appear): X", 「団体名：X」);
    2. a request ("please list us as X"); 3. 「X」として掲載. Never the signature.
    """
    for pattern in (_LABELLED, _REQUEST, _JA_REQUEST):
        for line in raw_lines:
            m = pattern.search(line)
            if not m:
                continue
            value = next((v for v in m.groups() if v), None)
            cleaned = _clean(value) if value else None
            if cleaned:
                return cleaned, line.strip()
    return None, ""

"""The organisation name a reply asks to be listed under, with its exact characters."""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

# A label and the value after it on the same line (form fields and explicit requests).
_LABELLED = re.compile(
    r"(?:organi[sz]ation(?:'s)? name|name of (?:the |our )?organi[sz]ation|org(?:anisation)? name"
    r"|listing name|name for the (?:letter|listing|signatory list)|signatory name|listing|"
    r"name to (?:appear|be (?:listed|printed|used|shown))|name (?:as it should appear|on the "
    r"letter|in the letter|for listing|to use)|listed name|name \(as (?:it should appear|"
    r"printed|listed)\)|signatory|english name|name in english|japanese name|name in japanese)"
    r"\s*(?:\([^)]*\)|（[^）]*）)?\s*[:：]\s*(?P<value>.+)"
    r"|(?:団体名|組織名|掲載名|表記|ご?署名名|掲載団体名|掲載名称|団体名称|名義|掲載用団体名|英文名|"
    r"英語名|英語表記|英文表記|和文名|日本語名|日本語表記)"
    r"\s*(?:\([^)]*\)|（[^）]*）)?\s*[:：]\s*(?P<ja>.+)",
    re.IGNORECASE,
)
_REQUEST = re.compile(
    r"(?:list(?:ed)?|include|add|print|show|mention|credit|put)\s+"
    r"(?:us|our (?:name|organi[sz]ation))"
    r"\s+(?:down\s+)?(?:on the letter\s+)?as[:：]?\s+(?P<value>.+)"
    r"|(?:our|the) name should (?:appear|read|be (?:listed|printed|shown)) as[:：]?\s+(?P<v2>.+)"
    r"|(?:(?:sign|listed|sign on|signing|appear) on the name|\bunder the name)[:：]?\s+(?P<v3>.+)"
    r"|(?:please |kindly )?use (?:the name|this name|our name as|the following name)[:：]?\s+"
    r"(?P<v4>.+)"
    r"|\b(?:be|get|appear) (?:listed|credited|named|printed|shown|included|mentioned)?\s*"
    r"(?:on the letter |in the letter )?as[:：]?\s+(?P<v5>.+)"
    r"|(?:our|the) name (?:on|in|for) the letter (?:should (?:be|read)|is)[:：]?\s+(?P<v6>.+)"
    r"|(?:please )?use\s+(?P<v7>[\"“'‘][^\"”'’]{2,80}[\"”'’])\s+(?:as|for) (?:our|the) "
    r"(?:name|listing)",
    re.IGNORECASE,
)
_JA_REQUEST = re.compile(
    r"[「『](?P<value>[^」』]{2,80})[」』]\s*(?:として|の名前?で|の?名義で|で|と)\s*(?:の)?"
    r"(?:ご?掲載|記載|表記|お?載せ|賛同|署名|参加|お願い)"
    r"|(?:掲載名|表記|団体名|名称|名義|掲載名称|お名前)(?:は|を|については)\s*"
    r"[「『](?P<v2>[^」』]{2,80})[」』]"
)
_QUOTE_PAIRS = {'"': '"', "“": "”", "”": "”", "'": "'", "‘": "’", "「": "」", "『": "』",
                "«": "»", "＂": "＂"}
_TRAILER = re.compile(
    r"(?:[,;]|\s[-–—])\s*(?:thank|thanks|many thanks|best|regards|cheers|please|if possible|"
    r"as before|with thanks)\b.*$|\s+(?:please|thank you|thanks)[.!]?\s*$",
    re.IGNORECASE,
)
_NOT_A_NAME = re.compile(
    r"(?:a|an) (?:[a-z-]+ ){0,2}(?:signator|supporter|signer|co-?sign|endorser|member|partner|"
    r"participant|organi[sz]ation|group|ngo|network)|"
    r"(?:one of|part of|signator|supporter|endorser)\b|(?:well|such|usual)\b"
)
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
    value = _TRAILER.sub("", value.split(";")[0])
    value = value.strip().rstrip(",;、，").strip()
    if value and value[-1] in "”\"’'」』" and value[0] not in _QUOTE_PAIRS:
        value = value[:-1].strip()
    if value.startswith(("(", "（")) and value.endswith((")", "）")):
        return None  # a bracketed instruction, not a name
    if _NOT_A_NAME.match(value):
        return None  # "be listed as a signatory"
    return value or None


def _matched_name(m: re.Match[str]) -> str | None:
    """The name a pattern caught: its first non-empty group, cleaned (None if nothing is left)."""
    value = next((v for v in m.groups() if v), None)
    return _clean(value) if value else None


_JAPANESE = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uff66-\uff9f]")


def is_japanese(name: str) -> bool:
    """Which letter version a requested name belongs to (the signature keeps one per version)."""
    return bool(_JAPANESE.search(name))


def other_version_name(raw_lines: Sequence[str], first: str | None) -> str | None:
    """A second requested name for the other language version ("掲載名：X" and "English
    name: Y" in one reply), so that both letters print what the organisation asked for."""
    if first is None:
        return None
    for pattern in (_LABELLED, _REQUEST, _JA_REQUEST):
        for line in raw_lines:
            for m in pattern.finditer(line):
                cleaned = _matched_name(m)
                if cleaned and cleaned != first and is_japanese(cleaned) != is_japanese(first):
                    return cleaned
    return None


def extract_name(raw_lines: Sequence[str]) -> tuple[str | None, str]:
    """The requested listing and the line it came from, from the sender's own lines only.

    Order: 1. a filled-in label ("Organisation name (as it should appear): X", 「団体名：X」);
    2. a request ("please list us as X"); 3. 「X」として掲載. Never the signature.
    """
    for pattern in (_LABELLED, _REQUEST, _JA_REQUEST):
        for line in raw_lines:
            m = pattern.search(line)
            cleaned = _matched_name(m) if m else None
            if cleaned:
                return cleaned, line.strip()
    return None, ""


_QUOTE_MARKS = re.compile(r"^\s*(?:[>＞|]\s?)+")


def quoted_form_name(body_lines: Sequence[str], sent_texts: Sequence[str] = ()) -> tuple[
        str | None, str]:
    """A name typed into our form inside the quoted invitation (Outlook users often do).

    Less sure than a name in the sender's own words: the caller asks them to confirm it.
    A form line exactly as we sent it (empty, or with our sample) is not an answer.
    """
    ours = {_spaced(line) for text in sent_texts for line in text.splitlines()}
    for line in body_lines:
        bare, spaced = _unquoted(line)
        if not bare or spaced in ours:
            continue
        cleaned = _form_value(bare)
        if cleaned:
            return cleaned, bare
    return None, ""


# Memoised: a reply quotes our invitation line by line, and a campaign's invitations share
# most of their lines, so the same lines come back in every reply (as quotes._key does).
@lru_cache(maxsize=8192)
def _spaced(line: str) -> str:
    return " ".join(line.split())


@lru_cache(maxsize=8192)
def _unquoted(line: str) -> tuple[str, str]:
    """The line without its quote marks, and that with its spaces collapsed."""
    bare = _QUOTE_MARKS.sub("", line).strip()
    return bare, _spaced(bare)


@lru_cache(maxsize=8192)
def _form_value(bare: str) -> str | None:
    m = _LABELLED.search(bare)
    return _matched_name(m) if m else None

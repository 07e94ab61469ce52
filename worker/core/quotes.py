"""Keep only the sender's own lines: drop quotes, quote headers, forwards, signatures, our text."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from worker.core.decode import normalise

_QUOTED = re.compile(r"^\s*(?:[>＞|]\s?)+")
# Lines that open a block of someone else's text that runs to the end unless it is ">"-quoted.
_SEPARATOR = re.compile(
    r"^\s*(?:-{2,}\s*(?:original message|forwarded message|forwarded by|元のメッセージ|"
    r"転送(?:された)?メッセージ|オリジナルメッセージ|ursprüngliche nachricht|message d'origine|"
    r"mensaje original|reply message|message transféré)[^-]*-{2,}|_{10,}|-{10,}|"
    r"begin forwarded message:?|転送メッセージ:?|以下(?:、)?転送(?:します)?|"
    r"-+ ?(?:forwarded|original) message ?-+)\s*$",
    re.IGNORECASE,
)
_HEADER_FIELD = re.compile(
    r"^\s*\*?(?:from|sent|date|to|cc|subject|reply-to|差出人|送信者|送信日時|日時|日付|宛先|"
    r"件名|cc|送信|von|gesendet|an|betreff|de|envoyé|à|objet)\*?\s*[:：]",
    re.IGNORECASE,
)
_HEADER_FROM = re.compile(r"^\s*\*?(?:from|差出人|送信者|von|de)\*?\s*[:：]", re.IGNORECASE)
_HEADER_SENT = re.compile(r"^\s*\*?(?:sent|date|送信日時|日時|日付|gesendet|envoyé)\*?\s*[:：]",
                          re.IGNORECASE)
_ATTRIBUTION_END = re.compile(
    r"(?:wrote|writes|a écrit|schrieb|escribió|scrisse|のメール|書きました)\s*[:：]?\s*$"
    r"|[>＞]\s*[:：]\s*$",
    re.IGNORECASE,
)
_ATTRIBUTION_START = re.compile(
    r"^\s*(?:on\s|le\s|am\s|el\s|\d{4}[年/.-]|\d{1,2}[/.]\d{1,2}[/.]\d{2,4}|"
    r"(?:mon|tue|wed|thu|fri|sat|sun)\w*,)",
    re.IGNORECASE,
)
_SIGNATURE = re.compile(
    r"^(?:--\s?|—|sent from my \w+.*|sent from (?:outlook|mail|yahoo).*|get outlook for .*|"
    r"iphoneから送信|ipadから送信|androidから送信|.*から送信$|von meinem .* gesendet|"
    r"envoyé de mon .*|enviado desde mi .*)$",
    re.IGNORECASE,
)
_VALEDICTION = re.compile(
    r"^(?:best|best regards|kind regards|warm regards|regards|with regards|many thanks|thanks|"
    r"thank you|cheers|sincerely|yours sincerely|yours|in solidarity|with solidarity|"
    r"all the best|warmly|best wishes)[,.!]?$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class OwnText:
    """The sender's own lines (raw for exact names, normalised for rules) and what was cut."""

    raw_lines: tuple[str, ...]
    lines: tuple[str, ...]
    signature: tuple[str, ...]
    had_quote: bool
    survivors: tuple[str, ...]  # distinctive lines of our own text that were still present

    @property
    def text(self) -> str:
        return "\n".join(self.lines).strip()

    @property
    def raw_text(self) -> str:
        return "\n".join(self.raw_lines).strip()


_SPACES = re.compile(r"\s+")


# The lines we send repeat from one email to the next (a campaign's invitations differ in a few
# lines only), and each reply compares against every line we sent to its contact.
@lru_cache(maxsize=8192)
def _key(line: str) -> str:
    return _SPACES.sub(" ", normalise(_QUOTED.sub("", line))).strip().lower()


def sent_line_keys(sent_texts: Sequence[str]) -> frozenset[str]:
    """Each non-trivial line of what we sent, in comparison form."""
    keys: set[str] = set()
    for text in sent_texts:
        for line in text.splitlines():
            key = _key(line)
            if len(key) >= 4:
                keys.add(key)
    return frozenset(keys)


def _is_attribution(lines: list[str], i: int) -> int:
    """How many lines (1 or 2) starting at i form an "On ... wrote:" line, else 0."""
    line = lines[i].strip()
    if not line:
        return 0
    if _ATTRIBUTION_END.search(line) and (_ATTRIBUTION_START.match(line) or "@" in line):
        return 1
    if i + 1 < len(lines) and _ATTRIBUTION_START.match(line):
        nxt = lines[i + 1].strip()
        if _ATTRIBUTION_END.search(nxt) and len(line) + len(nxt) < 240:
            return 2
        # a bare date line right before a ">" quote (Thunderbird cite prefix in HTML)
        if _QUOTED.match(lines[i + 1]) and re.search(r"\d{1,2}:\d{2}", line):
            return 1
    return 0


def _header_block_end(lines: list[str], i: int) -> int:
    """If an Outlook-style From:/Sent: header block starts at i, the index after it, else -1."""
    if not _HEADER_FROM.match(lines[i]):
        return -1
    window = lines[i + 1 : i + 5]
    if not any(_HEADER_SENT.match(w) for w in window):
        return -1
    j = i
    while j < len(lines) and (_HEADER_FIELD.match(lines[j]) or (j > i and lines[j][:1] in " \t"
                                                              and lines[j].strip())):
        j += 1
    return j


def _next_nonblank(lines: list[str], j: int) -> int:
    while j < len(lines) and not lines[j].strip():
        j += 1
    return j


def own_text(text: str, sent_texts: Sequence[str] = ()) -> OwnText:
    """Split `text` into the sender's own lines, dropping everything that is not theirs.

    1. ">"/"＞"-quoted lines and the attribution line above them go.
    2. A separator or From:/Sent: header block goes; if ">"-quoted text follows, only the block
       goes (bottom-posting stays), otherwise everything below it goes.
    3. Signatures ("-- ", "Sent from my iPhone", a valediction) go until the next quote.
    4. Every line equal to a line of our own sent text goes; distinctive survivors are reported.
    """
    lines = text.split("\n")
    sent_keys = sent_line_keys(sent_texts)
    kept: list[str] = []
    signature: list[str] = []
    had_quote = False
    in_signature = False
    i = 0
    while i < len(lines):
        line = lines[i]
        # 1. quoted lines and attributions
        if _QUOTED.match(line):
            had_quote = True
            in_signature = False
            i += 1
            continue
        skip = _is_attribution(lines, i)
        if skip:
            had_quote = True
            i += skip
            continue
        # 2. separators and header blocks
        end = i + 1 if _SEPARATOR.match(line) else _header_block_end(lines, i)
        if end > 0:
            had_quote = True
            if _SEPARATOR.match(line):
                block_end = _header_block_end(lines, _next_nonblank(lines, end))
                if block_end > 0:
                    end = block_end
            nxt = _next_nonblank(lines, end)
            if nxt < len(lines) and _QUOTED.match(lines[nxt]):
                i = nxt
                continue
            break
        # 3. signatures
        stripped = line.strip()
        if _SIGNATURE.match(stripped) or _VALEDICTION.match(normalise(stripped)):
            in_signature = True
        if in_signature:
            signature.append(line)
            i += 1
            continue
        # 4. our own text, unquoted
        if sent_keys and _key(line) in sent_keys:
            had_quote = True
            i += 1
            continue
        kept.append(line)
        i += 1
    while kept and not kept[-1].strip():
        kept.pop()
    while kept and not kept[0].strip():
        kept.pop(0)
    normalised = tuple(normalise(k) for k in kept)
    survivors = _survivors(normalised, sent_keys)
    return OwnText(tuple(kept), normalised, tuple(signature), had_quote, survivors)


def _survivors(lines: tuple[str, ...], sent_keys: frozenset[str]) -> tuple[str, ...]:
    """Distinctive lines of ours (long enough to be unmistakable) still inside the own text."""
    if not sent_keys:
        return ()
    joined = " ".join(_key(line) for line in lines)
    # form labels ("Organisation name (as it should appear):") are meant to be filled in
    return tuple(
        k for k in sent_keys if len(k) >= 24 and not k.endswith((":", "：")) and k in joined
    )

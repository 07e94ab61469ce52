"""Signatures -> the final letter of each language: who is listed, in which order, and how many."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from worker.core.collation import (
    english_sort_key,
    has_kanji,
    japanese_sort_key,
    normalised_name,
)

ACTIVE = (
    "active"  # SignatureState.ACTIVE; core/states is pure too, but plain strings keep inputs simple
)


@dataclass(frozen=True)
class CoordinatorInput:
    """A coordinating organisation from the campaign definition (and its Organisation row)."""

    name_en: str | None
    name_ja: str | None
    reading: str | None = None
    organisation_id: int | None = None


@dataclass(frozen=True)
class SignatureInput:
    """One consent record with the organisation it is for."""

    organisation_id: int
    state: str  # "active" or "withdrawn"
    organisation_name_en: str | None
    organisation_name_ja: str | None
    reading: str | None  # kana reading of the Japanese name
    listed_name_en: str | None = None  # as the NGO asked to be listed
    listed_name_ja: str | None = None
    signed_at: datetime | None = None
    is_late: bool = False  # arrived after the deadline: not on the letter
    is_coordinator: bool = False


@dataclass(frozen=True)
class Signatory:
    organisation_id: int
    name: str  # as printed in this language


@dataclass(frozen=True)
class Letter:
    """The final letter in one language, ready for a template."""

    language: str
    text: str  # the letter body (Markdown), exactly as NGOs were asked to sign it
    coordinators: tuple[str, ...]
    signatories: tuple[Signatory, ...]
    # Warnings a lead should see before delivery (e.g. a Japanese name with no reading).
    problems: tuple[str, ...] = field(default=())

    @property
    def count(self) -> int:
        """Number of signatory organisations (coordinators are listed, and counted, apart)."""
        return len(self.signatories)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.signatories)

    def digest(self) -> str:
        """Hash of everything the ministry will read in this language: text and names."""
        h = hashlib.sha256()
        for part in (self.language, self.text, *self.coordinators, "\0", *self.names):
            h.update(part.encode())
            h.update(b"\0")
        return h.hexdigest()


def _first(*values: str | None) -> str | None:
    for value in values:
        if value and value.strip():
            return value.strip()
    return None


def display_name(sig: SignatureInput, language: str) -> str:
    """The name an organisation is listed under in `language`: the one it asked for first,
    then its own name in that language, then its name in the other language."""
    if language == "ja":
        name = _first(
            sig.listed_name_ja,
            sig.organisation_name_ja,
            sig.listed_name_en,
            sig.organisation_name_en,
        )
    else:
        name = _first(
            sig.listed_name_en,
            sig.organisation_name_en,
            sig.listed_name_ja,
            sig.organisation_name_ja,
        )
    return name or f"organisation #{sig.organisation_id}"


def coordinator_name(coordinator: CoordinatorInput, language: str) -> str:
    if language == "ja":
        return _first(coordinator.name_ja, coordinator.name_en) or "?"
    return _first(coordinator.name_en, coordinator.name_ja) or "?"


def _latest_per_organisation(signatures: Iterable[SignatureInput]) -> list[SignatureInput]:
    """One record per organisation: the most recent one decides (a withdrawal after a
    signature withdraws it; a new signature after a withdrawal counts again)."""
    best: dict[int, SignatureInput] = {}
    for sig in signatures:
        current = best.get(sig.organisation_id)
        if current is None or _recency(sig) >= _recency(current):
            best[sig.organisation_id] = sig
    return list(best.values())


def _recency(sig: SignatureInput) -> tuple[int, float]:
    return (0, 0.0) if sig.signed_at is None else (1, sig.signed_at.timestamp())


def _is_coordinator(
    sig: SignatureInput, coordinator_ids: set[int], coordinator_names: set[str]
) -> bool:
    if sig.is_coordinator or sig.organisation_id in coordinator_ids:
        return True
    names = (
        sig.listed_name_en,
        sig.listed_name_ja,
        sig.organisation_name_en,
        sig.organisation_name_ja,
    )
    return any(n and normalised_name(n) in coordinator_names for n in names)


def _sort(
    entries: list[tuple[SignatureInput, str]], language: str
) -> tuple[list[tuple[SignatureInput, str]], list[str]]:
    """Order entries for `language`; return them and warnings about names that cannot be placed."""
    problems: list[str] = []
    if language != "ja":
        return sorted(entries, key=lambda e: (english_sort_key(e[1]), e[0].organisation_id)), []

    # Japanese: gojūon order of the reading. A name with kanji and no reading cannot be
    # placed truthfully (kanji code points are not an order): it goes last and is reported.
    keyed: list[tuple[tuple[int, bytes, int], SignatureInput, str]] = []
    for sig, name in entries:
        if sig.reading and sig.reading.strip():
            key = (0, japanese_sort_key(sig.reading), sig.organisation_id)
        elif not has_kanji(name):
            key = (0, japanese_sort_key(name), sig.organisation_id)  # kana or Latin: sorts as is
        else:
            key = (1, name.encode(), sig.organisation_id)
            problems.append(
                f"{name}: no reading (furigana), so it cannot be placed in gojūon order; "
                "add a reading to the contacts file and import it again"
            )
        keyed.append((key, sig, name))
    keyed.sort(key=lambda k: k[0])
    return [(sig, name) for _, sig, name in keyed], problems


def assemble_letter(
    language: str,
    text: str,
    coordinators: Sequence[CoordinatorInput],
    signatures: Iterable[SignatureInput],
) -> Letter:
    """The letter in `language` from consent records.

    1. Keep the latest record of each organisation; drop it if withdrawn or late.
    2. Drop coordinators (by organisation, or by the same name once legal forms, case,
       spacing and punctuation are ignored): they are listed once, as coordinators.
    3. Name each organisation in `language` as it asked to be listed.
    4. Collapse entries that print the same name (one organisation imported twice).
    5. Sort: English alphabetically; Japanese in gojūon order of the reading (ICU).
    """
    coordinator_ids = {c.organisation_id for c in coordinators if c.organisation_id is not None}
    coordinator_names = {
        normalised_name(n) for c in coordinators for n in (c.name_en, c.name_ja) if n
    }
    coordinator_names.discard("")

    # 1.
    current = [
        s for s in _latest_per_organisation(signatures) if s.state == ACTIVE and not s.is_late
    ]
    # 2.
    listed = [s for s in current if not _is_coordinator(s, coordinator_ids, coordinator_names)]
    # 3. + 4.
    entries: list[tuple[SignatureInput, str]] = []
    seen: set[str] = set()
    problems: list[str] = []
    for sig in sorted(listed, key=lambda s: s.organisation_id):
        name = display_name(sig, language)
        norm = normalised_name(name) or name
        if norm in seen:
            problems.append(f"{name}: two organisations print the same name; listed once")
            continue
        seen.add(norm)
        entries.append((sig, name))
    # 5.
    ordered, sort_problems = _sort(entries, language)
    return Letter(
        language=language,
        text=text,
        coordinators=tuple(coordinator_name(c, language) for c in coordinators),
        signatories=tuple(Signatory(s.organisation_id, name) for s, name in ordered),
        problems=tuple(problems + sort_problems),
    )


def assemble_letters(
    texts: dict[str, str],
    coordinators: Sequence[CoordinatorInput],
    signatures: Sequence[SignatureInput],
) -> dict[str, Letter]:
    """One Letter per language of `texts`; every language lists the same organisations."""
    return {
        lang: assemble_letter(lang, text, coordinators, signatures) for lang, text in texts.items()
    }

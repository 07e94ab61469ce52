"""Signatures -> the one signatory list (who, in which order, how many) and each language's letter.

Every output (both letters, the email to the ministry, the PDFs, the evidence, `status`) renders
one `SignatoryList` value, so they cannot disagree on who signed or how many did.
Filing rules (tested in tests/letter/test_assembly.py):
- English: word by word, a leading "The" and an English legal form set aside, hyphens as
  spaces, case and diacritics folded by ICU (Ø as O, Ł as L).
- Japanese: gojūon order of the kana reading, legal forms (bracketed ones too) not read;
  Latin-script names filed by their katakana reading. A guessed reading is listed for the lead.
- A name missing in a letter's language blocks approval until the lead supplies it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any

import icu

from worker.core.collation import english_sort_key, japanese_sort_key, name_variants
from worker.core.readings import read_name

ACTIVE = "active"  # SignatureState.ACTIVE; plain strings keep inputs simple
CONFIRMED_SOURCES = frozenset({"file", "lead"})  # readings a person wrote; "analyser" guessed
# Shared mailbox providers: a signer writing from one of these proves nothing about identity.
PUBLIC_MAIL_DOMAINS = frozenset({
    "gmail.com", "googlemail.com", "yahoo.co.jp", "yahoo.com", "ymail.ne.jp", "outlook.com",
    "outlook.jp", "hotmail.com", "hotmail.co.jp", "live.jp", "icloud.com", "me.com",
    "docomo.ne.jp", "ezweb.ne.jp", "au.com", "softbank.ne.jp", "i.softbank.jp", "nifty.com",
    "biglobe.ne.jp", "so-net.ne.jp", "ocn.ne.jp", "protonmail.com", "proton.me", "gmx.net",
})  # fmt: skip


@dataclass(frozen=True)
class CoordinatorInput:
    """A coordinating organisation from the campaign definition (and its Organisation row)."""

    name_en: str | None
    name_ja: str | None
    reading: str | None = None
    organisation_id: int | None = None
    domains: tuple[str, ...] = ()  # its mail domains (definition e-mail, Organisation.domains)
    aliases: tuple[str, ...] = ()


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
    reading_source: str | None = "file"  # "file"/"lead": a person wrote it; "analyser": guessed
    listed_reading: str | None = None  # the lead's reading of listed_name_ja (after a rename)
    domains: tuple[str, ...] = ()  # the organisation's mail domains
    from_domain: str | None = None  # the domain of the address whose reply signed
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class LetterProblem:
    """Something the lead must see; `blocking` ones must be fixed before approval."""

    organisation_id: int | None
    message: str
    blocking: bool = False


@dataclass(frozen=True)
class ListedOrganisation:
    """One signatory as both letters print it."""

    organisation_id: int
    name_en: str
    name_ja: str
    reading: str  # hiragana, the Japanese filing key
    reading_confirmed: bool
    reading_doubts: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()  # languages it has no name in yet (the lead must give one)


@dataclass(frozen=True)
class SignatoryList:
    """The one list every output renders: its organisations, each language's order, the count
    and a hash that changes whenever any of those does."""

    organisations: tuple[ListedOrganisation, ...]  # English order
    order_ja: tuple[int, ...]  # organisation ids in gojūon order
    problems: tuple[LetterProblem, ...] = ()

    @property
    def count(self) -> int:
        return len(self.organisations)

    @property
    def organisation_ids(self) -> frozenset[int]:
        return frozenset(o.organisation_id for o in self.organisations)

    def ordered(self, language: str) -> tuple[ListedOrganisation, ...]:
        if language != "ja":
            return self.organisations
        by_id = {o.organisation_id: o for o in self.organisations}
        return tuple(by_id[i] for i in self.order_ja)

    def names(self, language: str) -> tuple[str, ...]:
        attr = "name_ja" if language == "ja" else "name_en"
        return tuple(getattr(o, attr) for o in self.ordered(language))

    def digest(self) -> str:
        """SHA-256 of the canonical JSON {"count", "en": [[id, name]...], "ja": [...]}."""
        body = {
            "count": self.count,
            "en": [[o.organisation_id, o.name_en] for o in self.ordered("en")],
            "ja": [[o.organisation_id, o.name_ja] for o in self.ordered("ja")],
        }
        data = json.dumps(body, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
        return hashlib.sha256(data.encode("utf-8")).hexdigest()

    @property
    def blocking(self) -> tuple[LetterProblem, ...]:
        return tuple(p for p in self.problems if p.blocking)


@dataclass(frozen=True)
class Signatory:
    organisation_id: int
    name: str  # as printed in this language


@dataclass(frozen=True)
class Letter:
    """The final letter in one language, ready for a template: a view of a SignatoryList."""

    language: str
    text: str  # the letter body (Markdown), exactly as NGOs were asked to sign it
    coordinators: tuple[str, ...]
    signatories: tuple[Signatory, ...]
    problems: tuple[str, ...] = field(default=())
    list_hash: str = ""

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


def display_name(sig: SignatureInput, language: str) -> str | None:
    """The name an organisation asked for in `language`, else its own; None when it has none."""
    if language == "ja":
        return _first(sig.listed_name_ja, sig.organisation_name_ja)
    return _first(sig.listed_name_en, sig.organisation_name_en)


def printed_names(
    name_en: str | None, name_ja: str | None, listed_en: str | None, listed_ja: str | None
) -> tuple[str, str]:
    """(English line, Japanese line) exactly as the two letters print an organisation: the
    name it asked for, else its own; a language without a name prints the other one (and
    the list reports it). Acknowledgements use this too, so they show the printed line."""
    en, ja = _first(listed_en, name_en), _first(listed_ja, name_ja)
    return (en or ja or "?"), (ja or en or "?")


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


@dataclass(frozen=True)
class _Coordinators:
    ids: frozenset[int]
    names: frozenset[str]
    domains: frozenset[str]

    @classmethod
    def of(cls, coordinators: Sequence[CoordinatorInput]) -> _Coordinators:
        names: set[str] = set()
        for c in coordinators:
            for n in (c.name_en, c.name_ja, *c.aliases):
                if n:
                    names |= name_variants(n)
        domains = {d.lower() for c in coordinators for d in c.domains} - PUBLIC_MAIL_DOMAINS
        ids = {c.organisation_id for c in coordinators if c.organisation_id is not None}
        return cls(frozenset(ids), frozenset(names - {""}), frozenset(domains))

    def recognise(self, sig: SignatureInput) -> bool:
        """A coordinator by identity: its row, a mail domain of its own, or one of its names
        (legal form, case, punctuation and a bracketed acronym such as "(HRW)" ignored)."""
        if sig.is_coordinator or sig.organisation_id in self.ids:
            return True
        own = {d.lower() for d in (*sig.domains, sig.from_domain or "") if d}
        if own & self.domains:
            return True
        names = (sig.listed_name_en, sig.listed_name_ja, sig.organisation_name_en,
                 sig.organisation_name_ja, *sig.aliases)  # fmt: skip
        return any(n and name_variants(n) & self.names for n in names)


@lru_cache(maxsize=1)
def _romaniser() -> Any:
    return icu.Transliterator.createInstance("Any-Latin; Latin-ASCII")


def _japanese_entry(sig: SignatureInput, problems: list[LetterProblem]) -> ListedOrganisation:
    """Both names and the filing reading of one signatory, with what the lead must confirm."""
    oid = sig.organisation_id
    name_ja = display_name(sig, "ja")
    name_en = display_name(sig, "en")
    missing = tuple(lang for lang, n in (("en", name_en), ("ja", name_ja)) if n is None)
    printed_en, printed_ja = printed_names(sig.organisation_name_en, sig.organisation_name_ja,
                                           sig.listed_name_en, sig.listed_name_ja)  # fmt: skip
    if name_ja is None:
        name_ja = printed_ja
        problems.append(LetterProblem(oid, f"{name_ja}: no Japanese name; give name_ja (Latin "
                                           "script is fine) before approval", blocking=True))
    if name_en is None:
        name_en = printed_en
        problems.append(LetterProblem(oid, f"{name_ja}: no English name; give name_en before "
                                           "approval", blocking=True))
    renamed = bool(sig.listed_name_ja) and sig.listed_name_ja != sig.organisation_name_ja
    written = sig.listed_reading if renamed else sig.reading
    confirmed = bool(written) and (renamed or sig.reading_source in CONFIRMED_SOURCES)
    if written and confirmed:
        return ListedOrganisation(oid, name_en, name_ja, written, True, (), missing)
    guess = read_name(name_ja)
    reading = written or guess.reading
    doubts = guess.doubts if not written or written == guess.reading else ()
    why = "renamed, so its reading was recomputed" if renamed else "reading guessed"
    detail = "; ".join(doubts)
    problems.append(LetterProblem(
        oid, f"{name_ja}: {why} as {reading}" + (f" ({detail})" if detail else "")
        + "; confirm it with `outreach campaign confirm-reading CAMPAIGN ORG_ID READING`",
    ))  # fmt: skip
    return ListedOrganisation(oid, name_en, name_ja, reading, False, doubts, missing)


def _english_key(entry: ListedOrganisation) -> tuple[Any, ...]:
    name = entry.name_en
    if "en" in entry.missing:  # no English name yet: filed by the romaji of its reading
        name = str(_romaniser().transliterate(entry.reading))
    return (*english_sort_key(name), entry.organisation_id)


def signatory_list(
    coordinators: Sequence[CoordinatorInput], signatures: Iterable[SignatureInput]
) -> SignatoryList:
    """The one signatory list, from consent records.

    1. Keep the latest record of each organisation; drop it if withdrawn or late.
    2. Drop coordinators, recognised by identity (row, domain, name variants): they are
       listed once, as coordinators.
    3. Name each organisation in both languages as it asked to be listed; a missing name
       and a reading nobody confirmed become problems for the lead.
    4. Collapse organisations that print the same name (one organisation imported twice).
    5. Order: English filing order; Japanese gojūon order of the reading (ICU).
    """
    known = _Coordinators.of(coordinators)
    current = [
        s for s in _latest_per_organisation(signatures) if s.state == ACTIVE and not s.is_late
    ]  # 1
    listed = [s for s in current if not known.recognise(s)]  # 2
    problems: list[LetterProblem] = []
    entries: list[ListedOrganisation] = []
    seen: dict[str, str] = {}
    for sig in sorted(listed, key=lambda s: s.organisation_id):
        entry = _japanese_entry(sig, problems)  # 3
        keys = name_variants(entry.name_en) | name_variants(entry.name_ja)
        clash = next((seen[k] for k in keys if k in seen), None)
        if clash is not None:  # 4
            problems.append(LetterProblem(
                sig.organisation_id,
                f"{entry.name_en}: prints the same name as {clash}; listed once (merge the two "
                "organisations in the contacts file)", blocking=True,
            ))  # fmt: skip
            continue
        seen.update(dict.fromkeys(keys, entry.name_en))
        entries.append(entry)
    english = tuple(sorted(entries, key=_english_key))  # 5
    japanese = sorted(entries, key=lambda e: (japanese_sort_key(e.reading), e.organisation_id))
    return SignatoryList(english, tuple(e.organisation_id for e in japanese), tuple(problems))


def letter_from_list(
    language: str,
    text: str,
    coordinators: Sequence[CoordinatorInput],
    signatories: SignatoryList,
) -> Letter:
    """The letter in `language`: a view of `signatories`, never a list of its own."""
    names = signatories.names(language)
    return Letter(
        language=language,
        text=text,
        coordinators=tuple(coordinator_name(c, language) for c in coordinators),
        signatories=tuple(
            Signatory(o.organisation_id, name)
            for o, name in zip(signatories.ordered(language), names, strict=True)
        ),
        problems=tuple(p.message for p in signatories.problems),
        list_hash=signatories.digest(),
    )


def assemble_letter(
    language: str,
    text: str,
    coordinators: Sequence[CoordinatorInput],
    signatures: Iterable[SignatureInput],
) -> Letter:
    """The letter in `language` from consent records (through the one signatory list)."""
    return letter_from_list(language, text, coordinators, signatory_list(coordinators, signatures))


def assemble_letters(
    texts: dict[str, str],
    coordinators: Sequence[CoordinatorInput],
    signatures: Sequence[SignatureInput],
) -> dict[str, Letter]:
    """One Letter per language of `texts`, all views of the same signatory list."""
    signatories = signatory_list(coordinators, signatures)
    return {
        lang: letter_from_list(lang, text, coordinators, signatories)
        for lang, text in texts.items()
    }

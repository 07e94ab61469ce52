"""Sort keys for organisation names: English alphabetical order and Japanese gojūon order."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import icu

# Japanese legal forms, with their readings: not part of the sort key, as in any Japanese
# list of organisations. Longest first, so 認定特定非営利活動法人 wins over 特定非営利活動法人.
LEGAL_FORMS: tuple[tuple[str, str], ...] = (
    ("認定特定非営利活動法人", "にんていとくていひえいりかつどうほうじん"),
    ("特定非営利活動法人", "とくていひえいりかつどうほうじん"),
    ("認定NPO法人", "にんていえぬぴーおーほうじん"),
    ("NPO法人", "えぬぴーおーほうじん"),
    ("一般社団法人", "いっぱんしゃだんほうじん"),
    ("公益社団法人", "こうえきしゃだんほうじん"),
    ("一般財団法人", "いっぱんざいだんほうじん"),
    ("公益財団法人", "こうえきざいだんほうじん"),
    ("社会福祉法人", "しゃかいふくしほうじん"),
    ("学校法人", "がっこうほうじん"),
    ("宗教法人", "しゅうきょうほうじん"),
    # Common bracketed abbreviations: (特活) (特非) (認特) (一社) (公社) (一財) (公財) (社福)
    ("特活", "とっかつ"),
    ("特非", "とくひ"),
    ("認特", "にんとく"),
    ("一社", "いっしゃ"),
    ("公社", "こうしゃ"),
    ("一財", "いちざい"),
    ("公財", "こうざい"),
    ("社福", "しゃふく"),
)
_ABBREVIATIONS = frozenset({"特活", "特非", "認特", "一社", "公社", "一財", "公財", "社福"})

_SEPARATORS = " \t\u3000・,、()（）[]［］「」【】"
# Only "The" is set aside when filing: "A SEED Japan" is a name that starts with A.
_ENGLISH_ARTICLES = ("the ",)
# English renderings of the same legal forms (folded): "Specified Non-Profit Organization
# Earth Tree" is listed under E, as 特定非営利活動法人アース・ツリー is under あ.
ENGLISH_LEGAL_FORMS: tuple[str, ...] = (
    "certified specified non-profit organization",
    "certified specified nonprofit corporation",
    "specified non-profit organization",
    "specified nonprofit organization",
    "specified non-profit corporation",
    "specified nonprofit corporation",
    "certified npo corporation",
    "certified npo",
    "npo corporation",
    "general incorporated association",
    "public interest incorporated association",
    "general incorporated foundation",
    "public interest incorporated foundation",
    "social welfare corporation",
    "school corporation",
)
_KANJI = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


def _nfkc(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip()


def katakana_to_hiragana(text: str) -> str:
    """ア..ヶ -> あ..ゖ (readings from a morphological analyser come in katakana)."""
    return "".join(chr(ord(c) - 0x60) if "\u30a1" <= c <= "\u30f6" else c for c in text)


def _strip_forms(text: str, forms: list[str]) -> str:
    """Remove one legal form at the start or the end, with its brackets and spaces."""
    changed = True
    while changed:
        changed = False
        for form in forms:
            for bracketed in (f"({form})", f"（{form}）", form):
                if text.startswith(bracketed) and len(text) > len(bracketed):
                    text = text[len(bracketed) :].lstrip(_SEPARATORS)
                    changed = True
                elif text.endswith(bracketed) and len(text) > len(bracketed):
                    text = text[: -len(bracketed)].rstrip(_SEPARATORS)
                    changed = True
    return text


def strip_legal_form(name: str) -> str:
    """特定非営利活動法人ヒューマン・ライツ・ナウ -> ヒューマン・ライツ・ナウ.

    NFKC first, so ＮＰＯ法人 == NPO法人."""
    text = _nfkc(name)
    # Abbreviations only count in brackets: 公社 alone may be part of a real name.
    forms = [k for k, _ in LEGAL_FORMS if k not in _ABBREVIATIONS]
    text = _strip_forms(text, forms)
    for abbreviation in _ABBREVIATIONS:
        for bracketed in (f"({abbreviation})", f"（{abbreviation}）"):
            if text.startswith(bracketed):
                text = text[len(bracketed) :].lstrip(_SEPARATORS)
            if text.endswith(bracketed):
                text = text[: -len(bracketed)].rstrip(_SEPARATORS)
    return text


def strip_legal_form_reading(reading: str) -> str:
    """The reading without the reading of a legal form, in hiragana."""
    text = katakana_to_hiragana(_nfkc(reading))
    forms = [r for k, r in LEGAL_FORMS if k not in _ABBREVIATIONS]
    return _strip_forms(text, forms)


def _strip_english_prefixes(folded: str) -> str:
    """Drop a leading article and an English legal form ("the", "Specified Non-Profit ...")."""
    for article in _ENGLISH_ARTICLES:
        if folded.startswith(article) and len(folded) > len(article):
            folded = folded[len(article) :].lstrip()
            break
    for form in ENGLISH_LEGAL_FORMS:
        if folded.startswith(form + " ") and len(folded) > len(form) + 1:
            folded = folded[len(form) :].lstrip(" ,:")
            break
    return folded


def fold_latin(text: str) -> str:
    """Casefold and drop diacritics: "Éducation" -> "education"."""
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return stripped.casefold()


@lru_cache(maxsize=1)
def _english_collator() -> icu.Collator:
    """ICU root collation at primary strength: Ø files as O and Ł as L, case is ignored,
    and a space (non-ignorable) sorts before every letter, which is word-by-word filing."""
    collator = icu.Collator.createInstance(icu.Locale.getRoot())
    collator.setStrength(icu.Collator.PRIMARY)
    collator.setAttribute(
        icu.UCollAttribute.ALTERNATE_HANDLING, icu.UCollAttributeValue.NON_IGNORABLE
    )
    return collator


def english_filing_text(name: str) -> str:
    """The text an English name is filed under: NFKC, hyphens and dashes as spaces, a leading
    "The" and an English legal form set aside, other punctuation dropped, spaces collapsed."""
    folded = fold_latin(_nfkc(name)).lstrip(" \"'‘’“”")
    text = re.sub(r"[-‐‑‒–—―/]", " ", _strip_english_prefixes(folded))
    kept = "".join(c if (c.isalnum() or c == " ") else "" for c in text)
    return " ".join(kept.split())


def english_sort_key(name: str) -> tuple[bytes, bytes, str]:
    """Alphabetical filing key (rules in docs: word by word, a leading "The" ignored, hyphens
    as spaces, diacritics and case folded by ICU). The full name only breaks ties."""
    collator = _english_collator()
    filing = english_filing_text(name)
    return collator.getSortKey(filing), collator.getSortKey(_nfkc(name)), name


@lru_cache(maxsize=1)
def _japanese_collator() -> icu.Collator:
    return icu.Collator.createInstance(icu.Locale("ja_JP"))


def has_kanji(text: str) -> bool:
    return _KANJI.search(text) is not None


def japanese_sort_key(reading: str) -> bytes:
    """ICU Japanese collation key of a kana reading (legal form removed), gojūon order.

    Give it the stored reading, never the kanji: ICU orders kanji by code point.
    """
    key: bytes = _japanese_collator().getSortKey(strip_legal_form_reading(reading))
    return key


def normalised_name(name: str) -> str:
    """A name reduced for "is this the same organisation?" checks (not for display).

    Legal forms, articles, case, diacritics, spaces and punctuation do not count:
    "Human Rights Now" == "human rights now" == "認定NPO法人ヒューマン・ライツ・ナウ" stripped.
    """
    text = strip_legal_form(name)
    text = _strip_english_prefixes(fold_latin(text))
    return "".join(c for c in text if c.isalnum())


_TRAILING_BRACKET = re.compile(r"\s*[(（\[［][^()（）\[\]［］]{1,40}[)）\]］]\s*$")
_LEADING_BRACKET = re.compile(r"^\s*[(（\[［][^()（）\[\]［］]{1,40}[)）\]］]\s*")


def name_variants(name: str) -> set[str]:
    """The normalised forms under which `name` identifies an organisation: the whole name,
    and the name without a bracketed acronym or note ("Human Rights Watch (HRW)" is also
    "Human Rights Watch"; "(HRW)" alone is also "HRW")."""
    variants = {normalised_name(name)}
    for pattern in (_TRAILING_BRACKET, _LEADING_BRACKET):
        inner = pattern.search(name)
        if inner:
            rest = pattern.sub("", name)
            variants.add(normalised_name(rest))
    variants.discard("")
    return variants

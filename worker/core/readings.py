"""Hiragana readings of Japanese organisation names, for gojūon order (fugashi + unidic-lite).

Pure apart from loading the dictionary once: no database, no network, no clock.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import icu

from worker.core.collation import strip_legal_form

# How Latin capitals are read aloud in Japanese (YWCA -> わいだぶりゅーしーえー).
_LETTERS = {
    "A": "エー", "B": "ビー", "C": "シー", "D": "ディー", "E": "イー", "F": "エフ", "G": "ジー",
    "H": "エイチ", "I": "アイ", "J": "ジェー", "K": "ケー", "L": "エル", "M": "エム", "N": "エヌ",
    "O": "オー", "P": "ピー", "Q": "キュー", "R": "アール", "S": "エス", "T": "ティー", "U": "ユー",
    "V": "ブイ", "W": "ダブリュー", "X": "エックス", "Y": "ワイ", "Z": "ゼット",
}  # fmt: skip
_KATAKANA_START, _KATAKANA_END = ord("ァ"), ord("ヶ")
_HIRAGANA_OFFSET = ord("ぁ") - ord("ァ")
_KANA_ONLY = re.compile(r"^[\u3041-\u3096\u30a1-\u30fa\u30fc\u30fb\u309d\u309e\s0-9]+$")


def katakana_to_hiragana(text: str) -> str:
    """ア -> あ, keeping the long-vowel mark ー and everything that is not katakana."""
    return "".join(
        chr(ord(c) + _HIRAGANA_OFFSET) if _KATAKANA_START <= ord(c) <= _KATAKANA_END else c
        for c in text
    )


def is_kana(text: str) -> bool:
    """True when `text` is written in hiragana/katakana only (a usable reading)."""
    return bool(_KANA_ONLY.match(text))


@lru_cache(maxsize=1)
def _tagger() -> Any:
    import fugashi

    return fugashi.Tagger()


@lru_cache(maxsize=1)
def _latin_to_katakana() -> Any:
    return icu.Transliterator.createInstance("Latin-Katakana")


def _token_reading(surface: str, kana: str | None) -> str:
    if kana and kana != "*":
        return kana
    if surface.isascii() and surface.isalpha():
        if surface.isupper() and len(surface) <= 6:  # an acronym is spelled: BDS -> ビーディーエス
            return "".join(_LETTERS.get(c, "") for c in surface)
        return str(_latin_to_katakana().transliterate(surface.lower()))  # a guess, flagged
    if surface.isdigit() or is_kana(surface):
        return surface
    return ""  # punctuation and symbols are not read (unknown letters are flagged by read_name)


@dataclass(frozen=True)
class GuessedReading:
    """The analyser's reading of a name and why a person should confirm it."""

    reading: str
    doubts: tuple[str, ...]


def _is_letter(c: str) -> bool:
    return unicodedata.category(c).startswith("L")


def read_name(name: str) -> GuessedReading:
    """Read `name` (Japanese or Latin script) the way it is filed in gojūon order, and say
    what the reading may have got wrong. Legal forms, bracketed ones included, are not read.

    A guessed reading is never silently final: 日本 (にほん or にっぽん), characters the
    dictionary does not know (髙, 𠮷), a bracketed part and Latin words are each named.
    """
    text = strip_legal_form(unicodedata.normalize("NFKC", name))
    doubts: list[str] = []
    parts: list[str] = []
    for word in _tagger()(text):
        surface, kana = word.surface, word.feature.kana
        reading = _token_reading(surface, kana)
        if not reading and any(_is_letter(c) for c in surface):
            doubts.append(f"{surface!r} could not be read (a character the dictionary lacks)")
        elif surface.isascii() and surface.isalpha() and not (kana and kana != "*"):
            doubts.append(f"{surface!r} is Latin script, read as {katakana_to_hiragana(reading)}")
        parts.append(reading)
    if "日本" in text:
        doubts.append("日本 may be read にほん or にっぽん")
    if re.search(r"[(（\[［【「]", text):
        doubts.append("a bracketed part: is it read aloud?")
    reading = katakana_to_hiragana("".join(parts)).replace("・", "").replace(" ", "")
    return GuessedReading(reading, tuple(doubts))


def reading_of(name_ja: str) -> str:
    """The hiragana reading of a Japanese name, as the morphological analyser reads it.

    Analyser readings can be wrong for proper nouns (日本 -> にっぽん where an NGO says にほん);
    a reading given in the contacts file always wins over this one.
    """
    return read_name(name_ja).reading

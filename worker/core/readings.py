"""Hiragana readings of Japanese organisation names, for gojūon order (fugashi + unidic-lite).

Pure apart from loading the dictionary once: no database, no network, no clock.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import Any

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


def _token_reading(surface: str, kana: str | None) -> str:
    if kana and kana != "*":
        return kana
    if surface.isascii() and surface.isalpha():
        return "".join(_LETTERS.get(c, "") for c in surface.upper())
    if surface.isdigit() or is_kana(surface):
        return surface
    return ""  # punctuation and symbols are not read


def reading_of(name_ja: str) -> str:
    """The hiragana reading of a Japanese name, as the morphological analyser reads it.

    Analyser readings can be wrong for proper nouns (日本 -> にっぽん where an NGO says にほん);
    a reading given in the contacts file always wins over this one.
    """
    text = unicodedata.normalize("NFKC", name_ja)
    parts = [_token_reading(w.surface, w.feature.kana) for w in _tagger()(text)]
    return katakana_to_hiragana("".join(parts)).replace("・", "").replace(" ", "")

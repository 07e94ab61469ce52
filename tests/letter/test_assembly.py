"""Pure letter assembly: who is listed, once, in the order a reader of each language expects."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from worker.core.collation import (
    english_sort_key,
    japanese_sort_key,
    normalised_name,
    strip_legal_form,
    strip_legal_form_reading,
)
from worker.core.letter import CoordinatorInput, SignatureInput, assemble_letter

from .seed_ngos import EXPECTED_EN_ORDER, EXPECTED_JA_ORDER, SEED_ORGANISATIONS

T0 = datetime(2024, 5, 25, 9, 0, tzinfo=UTC)


def _seed_signatures() -> list[SignatureInput]:
    return [
        SignatureInput(
            organisation_id=i,
            state="active",
            organisation_name_en=en,
            organisation_name_ja=ja,
            reading=reading,
            signed_at=T0 + timedelta(minutes=i),
            is_coordinator=coordinator,
        )
        for i, (_key, en, ja, reading, coordinator) in enumerate(SEED_ORGANISATIONS, start=1)
    ]


SEED_COORDINATORS = [
    CoordinatorInput(
        "Human Rights Watch", "ヒューマン・ライツ・ウォッチ", "ひゅーまんらいつうぉっち"
    ),
    CoordinatorInput("Human Rights Now", "認定NPO法人ヒューマンライツ・ナウ", None),
]


def test_seed_japanese_list_is_in_gojuon_order_of_the_readings_written_by_hand() -> None:
    letter = assemble_letter("ja", "本文", SEED_COORDINATORS, _seed_signatures())
    assert list(letter.names) == EXPECTED_JA_ORDER
    assert letter.problems == ()


def test_seed_english_list_is_alphabetical_ignoring_the_article_and_case() -> None:
    letter = assemble_letter("en", "Body", SEED_COORDINATORS, _seed_signatures())
    assert list(letter.names) == EXPECTED_EN_ORDER


def test_seed_count_is_unique_signatories_without_the_coordinators_listed_twice() -> None:
    letter = assemble_letter("en", "Body", SEED_COORDINATORS, _seed_signatures())
    assert letter.count == 27  # the published letter said 32 and listed 29 lines
    assert letter.coordinators == ("Human Rights Watch", "Human Rights Now")
    assert "Human Rights Now" not in letter.names


def test_coordinators_are_matched_by_name_when_not_flagged() -> None:
    sigs = [
        SignatureInput(1, "active", "HUMAN RIGHTS NOW", None, None),
        SignatureInput(2, "active", None, "ヒューマンライツ・ナウ", "ひゅーまんらいつなう"),
        SignatureInput(3, "active", "Peace Boat", None, None),
    ]
    coordinators = [CoordinatorInput("Human Rights Now", "認定NPO法人ヒューマンライツ・ナウ")]
    for lang in ("en", "ja"):
        letter = assemble_letter(lang, "", coordinators, sigs)
        assert letter.names == ("Peace Boat",)


def test_coordinator_is_matched_by_organisation_id() -> None:
    sigs = [SignatureInput(7, "active", "HRN Tokyo office", None, None)]
    letter = assemble_letter("en", "", [CoordinatorInput("Human Rights Now", None, None, 7)], sigs)
    assert letter.count == 0


def test_withdrawn_and_late_signatures_are_not_listed() -> None:
    sigs = [
        SignatureInput(1, "withdrawn", "Withdrawn NGO", None, None),
        SignatureInput(2, "active", "Late NGO", None, None, is_late=True),
        SignatureInput(3, "active", "Kept NGO", None, None),
    ]
    letter = assemble_letter("en", "", [], sigs)
    assert letter.names == ("Kept NGO",)
    assert letter.count == 1


def test_one_entry_per_organisation_and_the_latest_record_decides() -> None:
    sigs = [
        SignatureInput(1, "active", "Org A", None, None, signed_at=T0),
        SignatureInput(1, "withdrawn", "Org A", None, None, signed_at=T0 + timedelta(hours=1)),
        SignatureInput(2, "withdrawn", "Org B", None, None, signed_at=T0),
        SignatureInput(2, "active", "Org B", None, None, signed_at=T0 + timedelta(hours=1)),
        SignatureInput(3, "active", "Org C", None, None, signed_at=T0),
        SignatureInput(3, "active", "Org C", None, None, signed_at=T0 + timedelta(hours=2)),
    ]
    letter = assemble_letter("en", "", [], sigs)
    assert letter.names == ("Org B", "Org C")


def test_two_organisations_printing_the_same_name_are_listed_once_and_reported() -> None:
    sigs = [
        SignatureInput(1, "active", "Green Osaka", None, None),
        SignatureInput(2, "active", "GREEN  OSAKA", None, None),
    ]
    letter = assemble_letter("en", "", [], sigs)
    assert letter.count == 1
    assert any("same name" in p for p in letter.problems)


def test_each_language_uses_the_name_the_organisation_asked_for() -> None:
    sigs = [
        SignatureInput(
            1,
            "active",
            "Tokyo Peace Forum",
            "東京平和フォーラム",
            "とうきょうへいわふぉーらむ",
            listed_name_en="Peace Forum Tokyo",
            listed_name_ja="平和フォーラム東京",
        ),
        SignatureInput(2, "active", "English Only NGO", None, None),
    ]
    en = assemble_letter("en", "", [], sigs)
    ja = assemble_letter("ja", "", [], sigs)
    assert set(en.names) == {"Peace Forum Tokyo", "English Only NGO"}
    assert set(ja.names) == {"平和フォーラム東京", "English Only NGO"}


def test_japanese_name_without_reading_is_filed_by_a_guessed_reading_and_reported() -> None:
    sigs = [
        SignatureInput(1, "active", "Asia Group", "亜細亜の会", None),  # 亜: low code point
        SignatureInput(2, "active", "Watanabe Group", "渡辺の会", "わたなべのかい"),
        SignatureInput(3, "active", "Kaki Group", "柿の会", None),  # 柿 > 渡 by code point
    ]
    letter = assemble_letter("ja", "", [], sigs)
    assert letter.names == ("亜細亜の会", "柿の会", "渡辺の会")  # あ, か, わ: never kanji order
    guessed = [p for p in letter.problems if "reading guessed" in p]
    assert len(guessed) == 2 and "亜細亜の会" in guessed[0]


def test_kanji_order_is_not_used_when_readings_disagree_with_code_points() -> None:
    # 和 (U+548C) < 阿 (U+963F) by code point, but わ comes after あ in gojūon.
    sigs = [
        SignatureInput(1, "active", None, "和の会", "わのかい"),
        SignatureInput(2, "active", None, "阿の会", "あのかい"),
    ]
    assert assemble_letter("ja", "", [], sigs).names == ("阿の会", "和の会")


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (["zeta", "Alpha", "beta"], ["Alpha", "beta", "zeta"]),
        (
            ["The Zebra Fund", "Apple Trust", "the Moon Society"],
            ["Apple Trust", "the Moon Society", "The Zebra Fund"],
        ),
        (["An Owl", "A Bee", "Cat"], ["A Bee", "An Owl", "Cat"]),  # only "The" is set aside
        (
            ["Éducation Sans Frontières", "Eagle", "Ezra"],
            ["Eagle", "Éducation Sans Frontières", "Ezra"],
        ),
        (["Theatre Group", "The Arts"], ["The Arts", "Theatre Group"]),
    ],
)
def test_english_order_ignores_case_articles_and_diacritics(
    names: list[str], expected: list[str]
) -> None:
    assert sorted(names, key=english_sort_key) == expected


@pytest.mark.parametrize(
    ("name", "stripped"),
    [
        ("特定非営利活動法人アフリカ日本協議会", "アフリカ日本協議会"),
        ("認定特定非営利活動法人 難民支援協会", "難民支援協会"),
        ("認定ＮＰＯ法人ヒューマンライツ・ナウ", "ヒューマンライツ・ナウ"),
        ("NPO法人 みどり", "みどり"),
        ("一般社団法人あいうえお", "あいうえお"),
        ("公益財団法人日本YWCA", "日本YWCA"),
        ("日本YWCA(公財)", "日本YWCA"),
        ("（特活）アーユス", "アーユス"),
        ("平和のための学校法人研究会", "平和のための学校法人研究会"),
    ],
)
def test_legal_forms_are_stripped_from_names(name: str, stripped: str) -> None:
    assert strip_legal_form(name) == stripped


def test_legal_form_readings_are_stripped_in_hiragana_and_katakana() -> None:
    assert strip_legal_form_reading("とくていひえいりかつどうほうじんあーゆす") == "あーゆす"
    assert strip_legal_form_reading("トクテイヒエイリカツドウホウジンアーユス") == "あーゆす"
    assert strip_legal_form_reading("にんていえぬぴーおーほうじんひゅーまん") == "ひゅーまん"


def test_legal_form_in_reading_does_not_move_an_organisation() -> None:
    with_form = japanese_sort_key("こうえきざいだんほうじんにっぽんわいだぶりゅーしーえー")
    without = japanese_sort_key("にっぽんわいだぶりゅーしーえー")
    assert with_form == without
    assert japanese_sort_key("かんさい") < without


def test_normalised_names_match_across_case_space_punctuation_and_legal_form() -> None:
    assert normalised_name("Human Rights Now") == normalised_name("human rights  now.")
    assert normalised_name("認定NPO法人ヒューマンライツ・ナウ") == normalised_name(
        "ヒューマンライツナウ"
    )
    assert normalised_name("The Citizens' Network") == normalised_name("Citizens Network")

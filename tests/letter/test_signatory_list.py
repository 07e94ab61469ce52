"""The one signatory list: identity, filing rules, readings a person confirms, and a property:
for any campaign history every output shows the same organisations and the same count."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from worker.actions.letter import LABELS, count_text
from worker.core.collation import english_sort_key
from worker.core.letter import (
    CoordinatorInput,
    SignatureInput,
    assemble_letters,
    printed_names,
    signatory_list,
)
from worker.core.letter_text import check_letter_texts
from worker.core.readings import read_name
from worker.mail.render import render_template

T0 = datetime(2024, 5, 25, 9, 0, tzinfo=UTC)
HRW = CoordinatorInput("Human Rights Watch", "ヒューマン・ライツ・ウォッチ", None, None,
                       ("hrw.example",))  # fmt: skip


def _sig(oid: int, en: str | None, ja: str | None, reading: str | None = None,
         **kw: Any) -> SignatureInput:  # fmt: skip
    return SignatureInput(oid, "active", en, ja, reading, **kw)


def test_coordinator_signing_under_a_variant_name_from_its_own_domain_is_not_listed() -> None:
    sigs = [
        _sig(1, "HRW Japan office", None, from_domain="hrw.example"),
        _sig(2, "Human Rights Watch (HRW)", None, domains=("other.example",)),
        _sig(3, "Friends", "フレンズ", "ふれんず", from_domain="gmail.com"),
        _sig(4, "Gmail user NGO", "ジーメール", "じーめーる", from_domain="gmail.com"),
    ]
    listed = signatory_list([HRW, CoordinatorInput("Gmail", None, None, None, ("gmail.com",))],
                            sigs)  # fmt: skip
    assert listed.names("en") == ("Friends", "Gmail user NGO")  # a shared provider proves nothing


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (["Asia Pacific Forum", "the Asia-Japan Center"], ["the Asia-Japan Center",
                                                           "Asia Pacific Forum"]),
        (["Newark Friends", "New York Group"], ["New York Group", "Newark Friends"]),
        (["Zeta", "Øresund", "Łódź", "Oslo", "Lima"], ["Lima", "Łódź", "Øresund", "Oslo", "Zeta"]),
        (["Sun", "A SEED Japan", "Apple"], ["A SEED Japan", "Apple", "Sun"]),
    ],
)  # fmt: skip
def test_english_filing_word_by_word_hyphen_as_space_icu_folded(
    names: list[str], expected: list[str]
) -> None:
    assert sorted(names, key=english_sort_key) == expected


def test_latin_names_in_the_japanese_letter_file_by_their_reading_never_before_a() -> None:
    sigs = [
        _sig(1, "Peace Boat", "Peace Boat", "ぴーすぼーと"),
        _sig(2, "Asia Group", "アジアの会", "あじあのかい"),
        _sig(3, "Watanabe", "渡辺の会", "わたなべのかい"),
    ]
    assert signatory_list([], sigs).names("ja") == ("アジアの会", "Peace Boat", "渡辺の会")


def test_missing_name_in_a_language_blocks_approval_and_never_files_by_code_point() -> None:
    sigs = [_sig(1, None, "平和の会", "へいわのかい"), _sig(2, "Zeta", "ゼータ", "ぜーた"),
            _sig(3, "Alpha", "アルファ", "あるふぁ")]  # fmt: skip
    listed = signatory_list([], sigs)
    assert [p.message for p in listed.blocking] == [
        "平和の会: no English name; give name_en before approval"
    ]
    assert listed.names("en") == ("Alpha", "平和の会", "Zeta")  # filed as "heiwanokai"


def test_a_rename_in_japanese_recomputes_the_reading_and_asks_for_it() -> None:
    sigs = [_sig(1, "Green Osaka", "みどり大阪", "みどりおおさか", listed_name_ja="グリーン大阪"),
            _sig(2, "Kumamoto", "熊本の会", "くまもとのかい"),
            _sig(3, "Mie", "三重の会", "みえのかい")]  # fmt: skip
    listed = signatory_list([], sigs)
    assert listed.names("ja") == ("熊本の会", "グリーン大阪", "三重の会")
    assert any("グリーン大阪: renamed" in p.message for p in listed.problems)
    confirmed = signatory_list([], [sigs[0].__class__(**{**sigs[0].__dict__,
                                                         "listed_reading": "ぐりーんおおさか"})])
    assert confirmed.problems == ()


@pytest.mark.parametrize(
    ("name", "reading", "doubt"),
    [
        ("日本平和の会", "にっぽんへいわのかい", "日本 may be read"),
        ("髙橋平和基金", "へいわききん", "'髙橋' could not be read"),
        ("𠮷野家", "のえ", "'𠮷' could not be read"),
        ("（特活）アーユス", "あーゆす", None),
        ("(特非)アーユス", "あーゆす", None),
        ("（公財）日本YWCA", "にっぽんわいだぶりゅーしーえー", "日本 may be read"),
        ("（一社）あいう", "あいう", None),
        ("平和会（大阪）", "へいわかいおおさか", "a bracketed part"),
    ],
)
def test_guessed_readings_drop_legal_forms_and_name_their_doubts(
    name: str, reading: str, doubt: str | None
) -> None:
    guess = read_name(name)
    assert guess.reading == reading
    assert (doubt is None and guess.doubts == ()) or any(doubt in d for d in guess.doubts if doubt)


def test_letter_files_with_template_syntax_or_a_missing_translation_fail_with_line() -> None:
    problems = check_letter_texts({
        "en": "# Title\n\nDear {{ minister }},\n\n## Annex\n\nText\n",
        "ja": "# 題\n\n拝啓\n\n<div>本文</div>\n",
    })  # fmt: skip
    found = {(p.language, p.line, p.message.split(":")[0]) for p in problems}
    assert ("en", 3, "template syntax '{{ }}'") in found
    assert ("ja", 5, "raw HTML tag") in found
    assert ("ja", 1, "missing translation") in found


# --- Property: one list, every output -------------------------------------------------------

ORGS = [
    ("Peace Boat", "ピースボート", "ぴーすぼーと", "peaceboat.example"),
    ("the Asia-Japan Center", "アジア・ジャパン・センター", None, "ajc.example"),
    ("Øresund Friends", None, None, "oresund.example"),
    (None, "日本平和の会", None, "heiwa.example"),
    ("HRW Tokyo", "HRW東京", "えいちあーるだぶりゅーとうきょう", "hrw.example"),  # coordinator
    ("Green Osaka", "みどり大阪", "みどりおおさか", "green.example"),
    ("Smile 😀 Network", "スマイル😀", "すまいる", "smile.example"),
    ("GREEN  OSAKA", "みどり 大阪", "みどりおおさか", "green2.example"),  # prints the same
    ("A SEED Japan", "エー・シード・ジャパン", "えーしーど", "aseed.example"),
]
events = st.lists(
    st.tuples(
        st.integers(0, len(ORGS) - 1),
        st.sampled_from(["active", "withdrawn"]),
        st.integers(0, 500),  # minutes after T0
        st.booleans(),  # late
        st.sampled_from([None, "グリーン大阪", "平和ネット"]),  # a rename in Japanese
    ),
    max_size=25,
)


def _render(lang: str, names: tuple[str, ...], coordinators: tuple[str, ...]) -> str:
    labels = dict(LABELS[lang])
    n = len(names)
    labels["signatories"] = (
        labels["signatories_one"] if n == 1 else labels["signatories_many"].format(n=n)
    )
    context = {
        "lang": lang, "is_draft": False, "labels": labels, "date_text": "2024-05-30",
        "addressee": {"name": "Minister", "title": "", "postal_lines": []},
        "subject": "Subject", "body_text": "Body", "coordinators": list(coordinators),
        "signatories": list(names),
    }  # fmt: skip
    return render_template("letter/letter.txt", context)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events)
def test_any_history_every_output_shows_the_same_organisations_and_count(
    history: list[tuple[int, str, int, bool, str | None]],
) -> None:
    signatures = [
        SignatureInput(
            index + 1, state, ORGS[index][0], ORGS[index][1], ORGS[index][2],
            listed_name_ja=rename, signed_at=T0 + timedelta(minutes=minutes), is_late=late,
            domains=(ORGS[index][3],),
        )
        for index, state, minutes, late, rename in history
    ]  # fmt: skip
    letters = assemble_letters({"en": "Body", "ja": "本文"}, [HRW], signatures)
    en, ja = letters["en"], letters["ja"]
    ids = {s.organisation_id for s in en.signatories}
    assert ids == {s.organisation_id for s in ja.signatories}
    assert en.count == ja.count and en.list_hash == ja.list_hash
    assert 5 not in {s.organisation_id for s in en.signatories}  # the coordinator, by domain
    for letter in (en, ja):
        text = _render(letter.language, letter.names, letter.coordinators)
        assert count_text(letter.count, letter.language).split()[0] in text
        body = text.split(LABELS[letter.language]["order_note"])[0]
        positions = [body.rfind(f"  {name}\n") for name in letter.names]
        assert -1 not in positions and positions == sorted(positions)


def test_acknowledgement_line_is_the_line_each_letter_prints() -> None:
    # No Japanese name, asks for "X (UK)": both letters print "X (UK)", and so does the ack.
    assert printed_names("X", None, "X (UK)", None) == ("X (UK)", "X (UK)")
    listed = signatory_list([], [_sig(1, "X", None, listed_name_en="X (UK)")])
    assert (listed.names("en"), listed.names("ja")) == (("X (UK)",), ("X (UK)",))

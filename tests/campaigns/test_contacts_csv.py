"""Pure checks of the contacts CSV and of readings: no database."""

from __future__ import annotations

import pytest

from worker.core.contacts_csv import EncodingProblem, decode_csv, parse_contacts
from worker.core.readings import katakana_to_hiragana, reading_of

HEADER = "org_id,name_en,name_ja,reading,language,email\n"


def test_later_rows_of_an_organisation_inherit_its_names_and_language() -> None:
    parsed = parse_contacts(
        HEADER + "jvc,JVC,日本国際ボランティアセンター,,ja,a@jvc.example\njvc,,,,,b@jvc.example\n"
    )

    assert parsed.problems == []
    [org] = parsed.organisations
    assert [c.email for c in org.contacts] == ["a@jvc.example", "b@jvc.example"]
    assert org.contacts[1].language == "ja"


def test_a_later_row_that_contradicts_the_first_is_a_problem() -> None:
    parsed = parse_contacts(HEADER + "x,Ex,,,en,a@x.example\nx,Other,,,en,b@x.example\n")

    assert [(p.row, p.field) for p in parsed.problems] == [(3, "name_en")]
    assert "differs from row 2" in parsed.problems[0].message


def test_katakana_reading_in_the_file_becomes_hiragana() -> None:
    parsed = parse_contacts(
        HEADER + "a,,アフリカ日本協議会,アフリカニホンキョウギカイ,ja,a@a.example\n"
    )

    assert parsed.organisations[0].reading == "あふりかにほんきょうぎかい"


def test_latin_letters_are_read_aloud_in_a_reading() -> None:
    assert reading_of("熊本YWCA") == "くまもとわいだぶりゅーしーえー"
    assert katakana_to_hiragana("ネットワーク") == "ねっとわーく"


@pytest.mark.parametrize(
    ("data", "encoding"),
    [
        ("名前".encode(), "UTF-8"),
        (b"\xef\xbb\xbf" + "名前".encode(), "UTF-8 with BOM"),
        ("名前".encode("cp932"), "Shift_JIS (CP932)"),
    ],
)
def test_csv_encodings_that_excel_writes_are_decoded(data: bytes, encoding: str) -> None:
    decoded = decode_csv(data)
    assert (decoded.text, decoded.encoding) == ("名前", encoding)


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-le", "utf-32"])
def test_undecodable_bytes_raise_with_instructions(codec: str) -> None:
    with pytest.raises(EncodingProblem, match="CSV UTF-8"):
        decode_csv("org_id,名前\n".encode(codec))

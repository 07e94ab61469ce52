"""Untrusted text: control characters refused, DB-safe text, spreadsheet-safe cells."""

from __future__ import annotations

import csv
import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from worker.core.contacts_csv import parse_contacts
from worker.core.untrusted import control_problem, db_text, spreadsheet_cell

HEADER = "org_id,name_en,name_ja,reading,language,email,person_name,domains,timezone,coordinator"


@pytest.mark.parametrize(("char", "name"), [("\x0b", "vertical tab"), ("\x0c", "form feed"),
                                            ("\x00", "NUL"), ("\x1b", "escape"),
                                            ("\u2028", "line separator")])
def test_control_character_in_a_csv_cell_is_refused_with_row_and_field(
    char: str, name: str
) -> None:
    text = "\n".join([
        HEADER,
        "green,Green Action,,,en,info@green.example,,,,no",
        f"blue,Blue{char}Sky,,,en,info@blue.example,,,,no",
        "",
    ])
    parsed = parse_contacts(text)
    assert [(p.row, p.field) for p in parsed.problems] == [(3, "name_en")]
    assert name in parsed.problems[0].message and "U+" in parsed.problems[0].message
    assert [o.org_id for o in parsed.organisations] == ["green"]


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_db_text_has_no_nul_and_encodes_as_utf8(text: str) -> None:
    clean = db_text(text)
    assert "\x00" not in clean
    clean.encode("utf-8")  # no lone surrogate left
    assert len(clean) == len(text)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40))
def test_no_spreadsheet_cell_starts_like_a_formula(text: str) -> None:
    cell = spreadsheet_cell(text)
    assert isinstance(cell, str)
    assert not cell.startswith(("=", "+", "-", "@", "\t", "\r"))
    assert cell.endswith(text)
    # and the csv module round-trips it
    out = io.StringIO()
    csv.writer(out).writerow([cell])
    assert next(csv.reader(io.StringIO(out.getvalue()))) == [cell]


def test_numbers_stay_numbers_in_exports() -> None:
    assert spreadsheet_cell(-3) == -3 and spreadsheet_cell(None) is None
    assert spreadsheet_cell("=HYPERLINK(\"http://evil\")") == "'=HYPERLINK(\"http://evil\")"


@given(st.text(alphabet=st.characters(blacklist_categories=["Cc"]), max_size=40))
def test_text_without_controls_passes(text: str) -> None:
    if "\u2028" not in text and "\u2029" not in text:
        assert control_problem(text) is None


def test_control_character_in_a_campaign_file_field_is_refused_with_its_field() -> None:
    from pydantic import ValidationError

    from worker.core.definition import LocalisedName

    with pytest.raises(ValidationError) as caught:
        LocalisedName(en="Human Rights\x0cNow")
    error = caught.value.errors()[0]
    assert error["loc"] == ("en",) and "form feed (U+000C)" in error["msg"]

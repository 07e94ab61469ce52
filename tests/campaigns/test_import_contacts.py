"""Contact import: every row checked, nothing stored on bad input, re-import updates in place."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from worker.actions.import_contacts import ImportSummary, import_contacts
from worker.actions.load_campaign import load_campaign
from worker.cli import _load_commands
from worker.cli.apps import app
from worker.core.tokens import make_token
from worker.errors import UserError
from worker.models import Contact, Invitation, Organisation, Signature

from .conftest import snapshot

SECRET = b"test-secret-key-not-for-production"
CSV = "icc-2024.contacts.csv"
HEADER = "org_id,name_en,name_ja,reading,language,email,person_name,domains,timezone,coordinator\n"


@pytest.fixture
def loaded(session: Session, campaign_dir: Path) -> Path:
    load_campaign(session, campaign_dir / "icc-2024.yaml")
    session.commit()
    return campaign_dir


def _import(session: Session, path: Path, **kw: Any) -> ImportSummary:
    try:
        summary = import_contacts(session, "icc-2024", path, secret=SECRET, **kw)
        session.commit()
        return summary
    except BaseException:
        session.rollback()
        raise


def _count(session: Session, model: Any) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


def test_seed_import_creates_every_organisation_with_one_invitation(
    session: Session, loaded: Path
) -> None:
    summary = _import(session, loaded / CSV)

    assert summary.encoding == "UTF-8"
    assert summary.organisations["created"] == 27
    assert (_count(session, Organisation), _count(session, Contact)) == (27, 28)
    assert _count(session, Invitation) == 27
    jvc = session.scalars(select(Organisation).where(Organisation.key == "jvc")).one()
    assert [c.email for c in jvc.contacts] == ["info@ngo-jvc.example", "advocacy@ngo-jvc.example"]
    invitation = session.scalars(
        select(Invitation).where(Invitation.organisation_id == jvc.id)
    ).one()
    assert invitation.contact_id == jvc.contacts[0].id
    assert invitation.state == "pending" and invitation.language == "ja"
    assert invitation.token == make_token(SECRET, "icc-2024", "info@ngo-jvc.example")
    assert jvc.name_ja == "日本国際ボランティアセンター"
    assert jvc.reading == "にほんこくさいぼらんてぃあせんたー" and jvc.reading_source == "file"
    names = set(session.scalars(select(Organisation.name_en)))
    assert not {"Human Rights Watch", "Human Rights Now"} & names  # coordinators: in the YAML


def test_importing_the_same_file_twice_changes_nothing(session: Session, loaded: Path) -> None:
    _import(session, loaded / CSV)
    before = snapshot(session)

    summary = _import(session, loaded / CSV)

    assert summary.organisations == {"created": 0, "updated": 0, "unchanged": 27}
    assert snapshot(session) == before


def test_reimport_updates_in_place_and_keeps_signatures_and_missing_contacts(
    session: Session, loaded: Path
) -> None:
    path = loaded / CSV
    _import(session, path)
    jvc = session.scalars(select(Organisation).where(Organisation.key == "jvc")).one()
    invitation = session.scalars(select(Invitation).where(Invitation.organisation_id == jvc.id))
    session.add(
        Signature(
            campaign_id=jvc.campaign_id,
            organisation_id=jvc.id,
            invitation_id=invitation.one().id,
            decided_by="test",
            letter_hash="x" * 64,
        )
    )
    session.commit()
    text = path.read_text(encoding="utf-8")
    text = text.replace("Japan International Volunteer Center (JVC)", "JVC")
    text = text.replace("jvc,,,,ja,advocacy@ngo-jvc.example,,,,\n", "")
    path.write_text(text, encoding="utf-8")

    summary = _import(session, path)

    session.expire_all()
    assert summary.organisations["updated"] == 1
    assert summary.kept_not_in_file == ["jvc <advocacy@ngo-jvc.example>"]
    same = session.scalars(select(Organisation).where(Organisation.key == "jvc")).one()
    assert (same.id, same.name_en) == (jvc.id, "JVC")
    assert _count(session, Signature) == 1
    assert _count(session, Contact) == 28  # the address not in the file is kept


def test_shift_jis_file_from_excel_is_accepted(session: Session, loaded: Path) -> None:
    sjis = loaded / "excel.csv"
    sjis.write_bytes((loaded / CSV).read_text(encoding="utf-8").replace("’", "'").encode("cp932"))

    summary = _import(session, sjis)

    assert summary.encoding == "Shift_JIS (CP932)"
    names = set(session.scalars(select(Organisation.name_ja)))
    assert "地雷廃絶日本キャンペーン" in names and "武器取引反対ネットワーク" in names


def test_utf8_with_bom_is_accepted(session: Session, loaded: Path) -> None:
    bom = loaded / "bom.csv"
    bom.write_bytes(b"\xef\xbb\xbf" + (loaded / CSV).read_bytes())

    assert _import(session, bom).encoding == "UTF-8 with BOM"
    assert _count(session, Organisation) == 27


def test_undecodable_file_says_how_to_save_it(session: Session, loaded: Path) -> None:
    utf16 = loaded / "unicode.csv"
    utf16.write_bytes((loaded / CSV).read_text(encoding="utf-8").encode("utf-16"))
    before = snapshot(session)

    with pytest.raises(UserError) as caught:
        _import(session, utf16)

    assert "neither UTF-8 nor Shift_JIS" in str(caught.value)
    assert "CSV UTF-8" in str(caught.value)
    assert snapshot(session) == before


BAD_ROWS = (
    HEADER
    + "a,Alpha,,,en,not-an-address,,,,\n"  # row 2
    + "b,Beta,,,en,info@beta.example,,,,\n"  # row 3 (good)
    + "c,Gamma,,,en,INFO@beta.example,,,,\n"  # row 4 duplicate address
    + "d,beta,,,en,info@d.example,,,,\n"  # row 5 same name as org b
    + "e,Epsilon,,,fr,info@e.example,,,,\n"  # row 6 unknown language
    + "f,,,,en,info@f.example,,,,\n"  # row 7 no name
    + "g,Gee,,,ja,info@g.example,,,,\n"  # row 8 Japanese org without name_ja
    + 'h,"Eta\r\nBcc: victim@example.com",,,en,info@h.example,,,,\n'  # row 9 header injection
    + "i,Iota,,,en,info@i.example,,,Asia/Osaka,\n"  # row 10 unknown timezone
    + "j,Jay,ジェイ,jay,en,info@j.example,,,,maybe\n"  # row 11 reading not kana, coordinator
)
EXPECTED_PROBLEMS = [
    ("row 2", "email", "not a valid address"),
    ("row 4", "email", "duplicate address info@beta.example: already on row 3"),
    ("row 5", "name_en", "the same organisation as org_id 'b' on row 3 (same name"),
    ("row 6", "language", "unknown language 'fr'"),
    ("row 7", "name_en", "no name"),
    ("row 8", "name_ja", "needs its Japanese name"),
    ("row 9", "name_en", "line break"),
    ("row 10", "timezone", "unknown timezone 'Asia/Osaka'"),
    ("row 11", "reading", "not kana"),
    ("row 11", "coordinator", "write yes or no"),
]


def test_every_bad_row_is_reported_and_nothing_is_imported(
    session: Session, loaded: Path
) -> None:
    path = loaded / "bad.csv"
    path.write_bytes(BAD_ROWS.encode("utf-8"))
    before = snapshot(session)

    with pytest.raises(UserError) as caught:
        _import(session, path)

    found = [(p.where, p.field, p.message) for p in caught.value.problems]
    for row, field, message in EXPECTED_PROBLEMS:
        assert any(
            where.endswith(row) and f == field and message in text for where, f, text in found
        ), f"{row} [{field}] {message!r} not reported in {found}"
    assert len(found) == len(EXPECTED_PROBLEMS)
    assert "9 of 10 rows have problems" in caught.value.message
    assert snapshot(session) == before


def test_skip_bad_rows_imports_only_the_good_rows(session: Session, loaded: Path) -> None:
    path = loaded / "bad.csv"
    path.write_bytes(BAD_ROWS.encode("utf-8"))

    summary = _import(session, path, skip_bad_rows=True)

    assert summary.skipped_rows == [2, 4, 5, 6, 7, 8, 9, 10, 11]
    assert list(session.scalars(select(Organisation.key))) == ["b"]


def test_unknown_column_is_reported_before_any_row(session: Session, loaded: Path) -> None:
    path = loaded / "typo.csv"
    path.write_text(HEADER.replace("name_en", "nmae_en") + "a,Alpha,,,en,a@a.example,,,,\n")

    with pytest.raises(UserError) as caught:
        _import(session, path)

    assert "unknown column 'nmae_en'" in str(caught.value)
    assert _count(session, Organisation) == 0


def test_analyser_reads_a_kanji_name_without_reading_and_the_file_overrides_it(
    session: Session, loaded: Path
) -> None:
    path = loaded / "readings.csv"
    path.write_text(
        HEADER
        + "najat,,武器取引反対ネットワーク,,ja,info@najat.example,,,,\n"
        + "jcbl,,地雷廃絶日本キャンペーン,じらいはいぜつにほんきゃんぺーん,ja,"
        + "info@jcbl.example,,,,\n",
        encoding="utf-8",
    )

    summary = _import(session, path)

    orgs = {o.key: o for o in session.scalars(select(Organisation))}
    assert (orgs["najat"].reading, orgs["najat"].reading_source) == (
        "ぶきとりひきはんたいねっとわーく",
        "analyser",
    )
    assert (orgs["jcbl"].reading, orgs["jcbl"].reading_source) == (
        "じらいはいぜつにほんきゃんぺーん",
        "file",
    )
    assert summary.readings_from_analyser == 1


def test_cli_import_reports_rows_with_exit_status_2(
    outreach: Callable[..., Any], campaign_dir: Path
) -> None:
    assert outreach("db", "upgrade").returncode == 0
    assert outreach("campaign", "load", str(campaign_dir / "icc-2024.yaml")).returncode == 0
    bad = campaign_dir / "bad.csv"
    bad.write_bytes(BAD_ROWS.encode("utf-8"))

    result = outreach("contacts", "import", "icc-2024", str(bad))

    assert result.returncode == 2
    assert f"{bad} row 10 [timezone]: unknown timezone 'Asia/Osaka'" in result.stderr
    assert "--skip-bad-rows" in result.stderr
    assert "0 organisations, 0 addresses" in outreach("contacts", "list", "icc-2024").stdout


def test_cli_import_and_list_show_the_summary_and_japanese_names(
    env: dict[str, str], loaded: Path
) -> None:
    _load_commands()
    runner = CliRunner()
    first = runner.invoke(app, ["contacts", "import", "icc-2024", str(loaded / CSV)])
    listed = runner.invoke(app, ["contacts", "list", "icc-2024"], env={"COLUMNS": "200"})

    assert first.exit_code == 0, first.output
    assert "as UTF-8: 28 rows" in first.stdout
    assert "invitations created (pending): 27" in first.stdout
    assert listed.exit_code == 0
    assert "日本国際ボランティアセンター" in listed.stdout
    assert "27 organisations, 28 addresses" in listed.stdout

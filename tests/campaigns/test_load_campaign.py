"""Loading campaign definitions: idempotent upserts, allowed and refused edits, bad input."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from worker.actions.load_campaign import load_campaign
from worker.cli import _load_commands
from worker.cli.apps import app
from worker.core.audit_actions import AuditAction
from worker.core.states import CampaignState
from worker.errors import UserError
from worker.models import AuditLog, Campaign

from .conftest import snapshot

YAML = "icc-2024.yaml"


def _load(session: Session, path: Path) -> Any:
    try:
        result = load_campaign(session, path)
        session.commit()
        return result
    except BaseException:
        session.rollback()
        raise


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path.name}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def _line_of(path: Path, needle: str) -> int:
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if needle in line:
            return number
    raise AssertionError(needle)


def _set_state(session: Session, state: CampaignState) -> None:
    campaign = session.scalars(select(Campaign)).one()
    campaign.state = state.value
    session.commit()


def _refused(session: Session, path: Path) -> UserError:
    before = snapshot(session)
    with pytest.raises(UserError) as caught:
        _load(session, path)
    assert snapshot(session) == before
    return caught.value


def test_loading_the_seed_twice_changes_nothing(session: Session, campaign_dir: Path) -> None:
    first = _load(session, campaign_dir / YAML)
    before = snapshot(session)
    second = _load(session, campaign_dir / YAML)

    assert (first.outcome, second.outcome) == ("created", "unchanged")
    assert snapshot(session) == before
    assert session.scalar(select(func.count()).select_from(AuditLog)) == 1


def test_stored_definition_carries_letter_texts_and_their_hash(
    session: Session, campaign_dir: Path
) -> None:
    _load(session, campaign_dir / YAML)
    campaign = session.scalars(select(Campaign)).one()
    letters = campaign.definition["letter_text"]

    assert "外務大臣" in letters["ja"] and "上川陽子" in letters["ja"]
    assert letters["en"].startswith("May 30, 2024")
    expected = json.dumps(letters, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    assert campaign.letter_hash == hashlib.sha256(expected.encode()).hexdigest()
    assert campaign.state == "draft"
    assert campaign.deadline.isoformat() == "2024-05-29T08:00:00+00:00"
    assert campaign.definition["coordinators"][0]["lead"] is True


def test_editing_reminders_of_an_open_campaign_updates_and_audits(
    session: Session, campaign_dir: Path
) -> None:
    path = campaign_dir / YAML
    _load(session, path)
    _set_state(session, CampaignState.OPEN)
    _edit(path, '["3 days", "1 day"]', '["2 days"]')

    result = _load(session, path)

    assert result.outcome == "updated"
    assert result.changed == ["schedule.reminders_before_deadline"]
    campaign = session.scalars(select(Campaign)).one()
    assert campaign.definition["schedule"]["reminders_before_deadline"] == ["P2D"]
    audit = session.scalars(
        select(AuditLog).where(AuditLog.action == AuditAction.CAMPAIGN_UPDATED)
    ).one()
    assert audit.detail is not None
    assert audit.detail["changed"] == ["schedule.reminders_before_deadline"]


def test_moving_the_deadline_of_a_delivered_campaign_is_refused(
    session: Session, campaign_dir: Path
) -> None:
    path = campaign_dir / YAML
    _load(session, path)
    _set_state(session, CampaignState.DELIVERED)
    _edit(path, "deadline: 2024-05-29T17:00:00+09:00", "deadline: 2024-06-05T17:00:00+09:00")

    error = _refused(session, path)

    text = str(error)
    assert "cannot change schedule.deadline" in text
    assert "campaign icc-2024 is delivered" in text
    assert f"{path}:{_line_of(path, 'deadline:')}" in text
    assert "nothing was changed" in text


def test_changing_the_letter_after_the_campaign_opened_is_refused(
    session: Session, campaign_dir: Path
) -> None:
    path = campaign_dir / YAML
    _load(session, path)
    _set_state(session, CampaignState.OPEN)
    _edit(campaign_dir / "icc-2024.letter.en.md", "We, the undersigned", "We, the signatories")

    error = _refused(session, path)

    assert "cannot change letter_text" in str(error)
    assert "consented" in str(error)


def test_changing_the_letter_of_a_draft_is_allowed(session: Session, campaign_dir: Path) -> None:
    path = campaign_dir / YAML
    _load(session, path)
    old_hash = session.scalars(select(Campaign)).one().letter_hash
    _edit(campaign_dir / "icc-2024.letter.en.md", "We, the undersigned", "We, the signatories")

    assert _load(session, path).changed == ["letter_text"]
    assert session.scalars(select(Campaign)).one().letter_hash != old_hash


# Each bad input: (edit to the YAML, what the message must say, the line it must name).
BAD_YAML: list[tuple[str, str, str, list[str], str | None]] = [
    ("malformed", "languages: [en, ja]", "languages: [en, ja", ["malformed YAML"], None),
    (
        "unknown key",
        "requires_approval: true",
        "requires_approval: true\nrequire_aproval: false",
        ["[require_aproval]", "unknown field"],
        "require_aproval:",
    ),
    (
        "deadline before invite",
        "deadline: 2024-05-29T17:00:00+09:00",
        "deadline: 2024-05-20T17:00:00+09:00",
        ["[schedule]", "is not after invite_at"],
        "schedule:",
    ),
    (
        "unknown timezone",
        "timezone: Asia/Tokyo",
        "timezone: Asia/Osaka",
        ["[timezone]", "unknown timezone 'Asia/Osaka'"],
        "timezone: Asia/Osaka",
    ),
    (
        "line break in a name",
        "en: Human Rights Watch",
        'en: "Human Rights Watch\\r\\nBcc: victim@example.com"',
        ["[coordinators[1].name.en]", "line break"],
        "Bcc: victim",
    ),
    (
        "unquoted quiet hours",
        'start: "21:00"',
        "start: 21:00",
        ["[schedule.quiet_hours.start]", "in quotes"],
        "start: 21:00",
    ),
    (
        "missing letter file",
        "ja: icc-2024.letter.ja.md",
        "ja: icc-2024.letter.jp.md",
        ["[letter.ja]", "icc-2024.letter.jp.md not found"],
        "icc-2024.letter.jp.md",
    ),
]


@pytest.mark.parametrize(
    ("old", "new", "expected", "line_of"),
    [case[1:] for case in BAD_YAML],
    ids=[case[0] for case in BAD_YAML],
)
def test_bad_definition_is_refused_with_file_line_and_field(
    session: Session,
    campaign_dir: Path,
    old: str,
    new: str,
    expected: list[str],
    line_of: str | None,
) -> None:
    path = campaign_dir / YAML
    _load(session, path)  # a stored campaign that must survive the bad load untouched
    _edit(path, old, new)

    error = _refused(session, path)

    text = str(error)
    for fragment in expected:
        assert fragment in text
    if line_of is not None:
        assert f"{path}:{_line_of(path, line_of)}" in text
    else:
        # line:column where the parser stopped, and the line where the bad list began
        assert f"{path}:9:9: malformed YAML" in text
        assert "began on line 8" in text


def test_cli_load_reports_errors_with_exit_status_2(
    outreach: Callable[..., Any], campaign_dir: Path
) -> None:
    path = campaign_dir / YAML
    assert outreach("db", "upgrade").returncode == 0
    _edit(path, "timezone: Asia/Tokyo", "timezone: Mars/Olympus")

    result = outreach("campaign", "load", str(path))

    assert result.returncode == 2
    assert "unknown timezone 'Mars/Olympus'" in result.stderr
    assert "Traceback" not in result.stderr
    assert "no campaigns yet" in outreach("campaign", "list").stdout


def test_cli_load_list_and_show_give_dates_in_the_campaign_timezone(
    env: dict[str, str], campaign_dir: Path
) -> None:
    _load_commands()
    runner = CliRunner()
    loaded = runner.invoke(app, ["campaign", "load", str(campaign_dir / YAML)])
    again = runner.invoke(app, ["campaign", "load", str(campaign_dir / YAML)])
    listed = runner.invoke(app, ["campaign", "list"], env={"COLUMNS": "200"})
    shown = runner.invoke(app, ["campaign", "show", "icc-2024"], env={"COLUMNS": "200"})
    missing = runner.invoke(app, ["campaign", "show", "nope"])

    assert loaded.exit_code == 0 and "created (draft)" in loaded.stdout
    assert again.exit_code == 0 and "unchanged" in again.stdout
    assert "2024-05-29 17:00 JST" in listed.stdout
    assert "2024-05-26 17:00 JST (3 days before the deadline)" in shown.stdout
    assert "外務大臣 / Minister for Foreign Affairs" in shown.stdout
    assert isinstance(missing.exception, UserError)
    assert "no campaign 'nope'" in str(missing.exception)


def test_a_missing_letter_is_reported_with_every_other_problem_at_once(
    session: Session, campaign_dir: Path
) -> None:
    path = campaign_dir / YAML
    _edit(path, "ja: icc-2024.letter.ja.md", "ja: icc-2024.letter.jp.md")
    _edit(path, "timezone: Asia/Tokyo", "timezone: Asia/Osaka")
    _edit(path, '["3 days", "1 day"]', '["3 days", "12 hourz"]')

    text = str(_refused(session, path))

    assert "3 problem(s)" in text
    assert "icc-2024.letter.jp.md not found" in text
    assert "unknown timezone 'Asia/Osaka'" in text
    assert "'12 hourz': unknown unit 'hourz'" in text and '"12 hours"' in text

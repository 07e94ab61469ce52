"""Templates fail at check time with file and line; check and preview show every email."""

from __future__ import annotations

import shutil
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from worker.cli import main
from worker.mail.context import contact_context
from worker.mail.outgoing import prepare_contact_email
from worker.mail.render import TemplateProblem, render_email
from worker.models import Campaign, Invitation
from worker.settings import reset_settings

from .conftest import NOW, SECRET

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def templates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private copy of templates/ that a test may break."""
    folder = tmp_path / "templates"
    shutil.copytree(REPO / "templates", folder)
    monkeypatch.setenv("OUTREACH_TEMPLATES_DIR", str(folder))
    reset_settings()
    return folder


def _run(monkeypatch: pytest.MonkeyPatch, *args: str) -> int:
    monkeypatch.setenv("COLUMNS", "250")  # rich folds table cells to the terminal width
    monkeypatch.setattr(sys, "argv", ["outreach", *args])
    try:
        main()
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def test_missing_variable_names_the_template_file_and_line(
    templates: Path, campaign: Campaign, en_invitation: Invitation
) -> None:
    body = templates / "email/invitation/en/body.txt"
    body.write_text(body.read_text() + "{{ no_such_value }}\n")
    context = contact_context(campaign, en_invitation, kind="invitation", secret=SECRET)
    with pytest.raises(TemplateProblem) as caught:
        render_email("invitation", "en", context)
    assert caught.value.template == "email/invitation/en/body.txt"
    assert caught.value.line == len(body.read_text().splitlines())
    assert "'no_such_value' is undefined" in str(caught.value)


def test_syntax_error_names_the_template_file_and_line(
    templates: Path, campaign: Campaign, ja_invitation: Invitation
) -> None:
    (templates / "email/reminder/ja/subject.txt").write_text("件名\n{% if %}\n")
    context = contact_context(campaign, ja_invitation, kind="reminder", secret=SECRET)
    with pytest.raises(TemplateProblem, match=r"email/reminder/ja/subject.txt:2: syntax error"):
        render_email("reminder", "ja", context)


def test_subject_that_renders_to_two_lines_is_an_error(
    templates: Path, campaign: Campaign, en_invitation: Invitation
) -> None:
    (templates / "email/invitation/en/subject.txt").write_text("One\nBcc: x@evil.example\n")
    with pytest.raises(TemplateProblem, match="more than one line"):
        prepare_contact_email(campaign, en_invitation, "invitation", 0, secret=SECRET, now=NOW)


def test_campaign_check_reports_every_broken_template_at_once(
    templates: Path,
    session: Session,
    campaign: Campaign,
    ja_invitation: Invitation,
    en_invitation: Invitation,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    session.commit()
    (templates / "email/invitation/en/body.txt").write_text("Hello\n{{ oops_undefined }}\n")
    (templates / "email/acknowledgement/ja/body.html").write_text("<p>\n\n{% for %}</p>\n")
    (templates / "email/late_reply/ja/subject.txt").unlink()

    assert _run(monkeypatch, "campaign", "check", "mail-test") == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "email/invitation/en/body.txt:2" in err
    assert "oops_undefined" in err
    assert "email/acknowledgement/ja/body.html:3" in err
    assert "email/late_reply/ja/subject.txt" in err and "missing" in err


def test_campaign_check_passes_on_good_templates(
    session: Session,
    campaign: Campaign,
    ja_invitation: Invitation,
    en_invitation: Invitation,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    campaign.deadline = datetime.now(UTC) + timedelta(days=30)  # `check` refuses a past one
    session.commit()
    assert _run(monkeypatch, "campaign", "check", "mail-test") == 0, capsys.readouterr().err
    assert "No problems" in capsys.readouterr().out


def test_preview_shows_the_personalised_japanese_and_english_invitations(
    session: Session,
    campaign: Campaign,
    ja_invitation: Invitation,
    en_invitation: Invitation,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    session.commit()
    expected_ja = prepare_contact_email(
        campaign, ja_invitation, "invitation", 0, secret=SECRET, now=NOW
    )
    assert _run(monkeypatch, "preview", "mail-test", "--contact", "info@hrn-member.example") == 0
    ja = capsys.readouterr().out
    assert "特定非営利活動法人ヒューマン・ライツ・ナウ 御中" in ja
    assert f"Message-ID: {expected_ja.message_id}" in ja
    assert "「賛同します」とご返信ください" in ja and "団体名（掲載名）：" in ja
    assert "2024年5月29日（水）17時（日本時間）" in ja
    assert "<strong>守る</strong>" in ja  # the letter's Markdown, as HTML
    assert "日本政府は国際刑事裁判所の独立性を守るべきです。" in ja  # ... and as text, not Markdown
    assert "**" not in ja.split("----- HTML part")[0]

    assert _run(monkeypatch, "preview", "mail-test", "--contact", "tokyo@hrw.example") == 0
    en = capsys.readouterr().out
    assert "Dear Kanae Doi," in en
    assert 'Reply "YES, we sign" to this message to add your organisation' in en
    assert "Organisation name (as it should appear):" in en
    assert "29 May 2024, 17:00 JST" in en
    assert "List-Unsubscribe: <mailto:signon+" in en
    assert "御中" not in en


@pytest.mark.skipif(
    not (REPO / "worker/actions/load_campaign.py").exists(), reason="campaign loader not present"
)
def test_seed_campaign_checks_clean_and_previews_in_both_languages(
    env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    # The seed's own dates (May 2024) have passed, and `check` refuses a past deadline: check
    # a copy whose schedule lies ahead (same times of day, next years).
    seed = tmp_path / "seed"
    shutil.copytree(REPO / "config/campaigns", seed)
    text = (seed / "icc-2024.yaml").read_text(encoding="utf-8")
    year = datetime.now(UTC).year + 1
    (seed / "icc-2024.yaml").write_text(text.replace("2024-05-", f"{year}-05-"), encoding="utf-8")
    assert _run(monkeypatch, "campaign", "load", str(seed / "icc-2024.yaml")) == 0
    assert (
        _run(monkeypatch, "contacts", "import", "icc-2024", str(seed / "icc-2024.contacts.csv"))
        == 0
    )
    capsys.readouterr()
    assert _run(monkeypatch, "campaign", "check", "icc-2024") == 0, capsys.readouterr().err
    assert _run(monkeypatch, "preview", "icc-2024", "--contact", "info@wam.example") == 0
    assert "資料館」 御中" in capsys.readouterr().out
    assert _run(monkeypatch, "preview", "icc-2024", "--contact", "bdstokyo@mail.example") == 0
    assert "Dear friends at BDS Tokyo," in capsys.readouterr().out

"""The letter from the database: every name printed, a Japanese font embedded, drafts marked."""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from worker.actions.letter import build_letters, check_letter, letter_context, render_letter
from worker.models import Campaign

from .conftest import freeze, sign
from .seed_ngos import EXPECTED_SEED_CSV_EN_ORDER, EXPECTED_SEED_CSV_JA_ORDER

BEFORE_DEADLINE = datetime(2024, 5, 27, 1, 0, tzinfo=UTC)
AFTER_DEADLINE = datetime(2024, 5, 30, 1, 0, tzinfo=UTC)

needs_poppler = pytest.mark.skipif(
    shutil.which("pdftotext") is None or shutil.which("pdffonts") is None,
    reason="poppler-utils is not installed; run scripts/install-system-deps.sh",
)


def _pdftotext(pdf: bytes, tmp_path: Path, name: str) -> str:
    path = tmp_path / name
    path.write_bytes(pdf)
    out = subprocess.run(
        ["pdftotext", "-enc", "UTF-8", str(path), "-"], check=True, capture_output=True
    )
    return out.stdout.decode("utf-8")


def _pdffonts(pdf: bytes, tmp_path: Path, name: str) -> list[dict[str, str]]:
    path = tmp_path / name
    path.write_bytes(pdf)
    out = subprocess.run(["pdffonts", str(path)], check=True, capture_output=True, text=True)
    lines = out.stdout.splitlines()
    # name type encoding emb sub uni object ID -- the name has no spaces; type may have one.
    fonts = []
    for line in lines[2:]:
        parts = line.split()
        # columns from the right: obj-id gen uni sub emb encoding
        fonts.append({"name": parts[0], "emb": parts[-5], "encoding": parts[-6]})
    return fonts


def _flat(text: str) -> str:
    """pdftotext breaks long names over lines and columns: compare without whitespace."""
    return "".join(text.split())


def test_seed_letters_list_the_signatories_in_order_and_count_them(
    session: Session, seed_campaign: Campaign
) -> None:
    sign(session, seed_campaign)
    letters = build_letters(session, seed_campaign)
    assert list(letters["ja"].names) == EXPECTED_SEED_CSV_JA_ORDER
    assert list(letters["en"].names) == EXPECTED_SEED_CSV_EN_ORDER
    assert letters["ja"].count == letters["en"].count == 27
    assert letters["en"].coordinators == ("Human Rights Now", "Human Rights Watch")
    assert check_letter(session, seed_campaign) == []


@needs_poppler
@pytest.mark.parametrize("lang", ["ja", "en"])
def test_pdf_prints_every_name_and_embeds_a_japanese_font(
    session: Session, seed_campaign: Campaign, tmp_path: Path, lang: str
) -> None:
    sign(session, seed_campaign)
    freeze(session, seed_campaign)
    pdf = render_letter(session, seed_campaign, lang, "pdf", AFTER_DEADLINE)
    assert pdf.startswith(b"%PDF")
    text = _flat(_pdftotext(pdf, tmp_path, f"{lang}.pdf"))
    expected = EXPECTED_SEED_CSV_JA_ORDER if lang == "ja" else EXPECTED_SEED_CSV_EN_ORDER
    for name in expected:
        assert _flat(name) in text, name
    heading = "賛同団体（27団体）" if lang == "ja" else "Signatories(27organisations)"
    assert heading in text
    assert "DRAFT" not in text
    fonts = _pdffonts(pdf, tmp_path, f"{lang}-fonts.pdf")
    cjk = [f for f in fonts if "CJK" in f["name"]]
    assert cjk, fonts
    assert all(f["emb"] == "yes" for f in fonts), fonts


@needs_poppler
def test_letter_before_the_deadline_carries_a_draft_watermark(
    session: Session, seed_campaign: Campaign, tmp_path: Path
) -> None:
    sign(session, seed_campaign, ["ajf", "bds-tokyo"])
    pdf = render_letter(session, seed_campaign, "ja", "pdf", BEFORE_DEADLINE)
    text = _flat(_pdftotext(pdf, tmp_path, "draft.pdf"))
    assert "案：賛同団体の一覧は締切" in text  # the note at the top of the first page
    assert "TFARD" in text or "DRAFT" in text  # the rotated watermark (read right to left)
    assert "賛同団体（2団体）" in text
    html = render_letter(session, seed_campaign, "en", "html", BEFORE_DEADLINE).decode()
    assert 'class="watermark"' in html
    assert "Signatories (2 organisations)" in html


def test_text_letter_has_date_addressee_subject_and_no_duplicate_preamble(
    session: Session, seed_campaign: Campaign
) -> None:
    sign(session, seed_campaign, ["green-osaka"])
    freeze(session, seed_campaign)
    text = render_letter(session, seed_campaign, "en", "text", AFTER_DEADLINE).decode()
    assert "29 May 2024" in text  # the deadline day in Tokyo: the letter's date once frozen
    assert "Ms. Yoko Kamikawa" in text and "Minister for Foreign Affairs" in text
    assert "Tokyo 100-8919, Japan" in text
    # The letter file opens with its own date and address; they are not printed twice.
    assert text.count("Ms. Yoko Kamikawa") == 1
    assert "May 30, 2024" not in text
    assert "Signatories (1 organisation)" in text
    ja = render_letter(session, seed_campaign, "ja", "text", AFTER_DEADLINE).decode()
    assert "2024年5月29日" in ja
    assert "外務大臣　上川陽子　様" in ja
    assert ja.count("上川陽子") == 1


def test_letter_context_names_the_coordinators_once(
    session: Session, seed_campaign: Campaign
) -> None:
    sign(session, seed_campaign)
    context = letter_context(session, seed_campaign, "ja", AFTER_DEADLINE)
    assert context["coordinators"] == ["ヒューマン・ライツ・ナウ", "ヒューマン・ライツ・ウォッチ"]
    assert "ヒューマン・ライツ・ナウ" not in context["signatories"]
    assert context["is_draft"] is True  # not frozen yet

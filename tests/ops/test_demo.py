"""`outreach demo` runs the seed campaign to the end; the final letter names exactly who signed."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import unicodedata
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from worker.models import Organisation

REPO = Path(__file__).resolve().parents[2]


def _norm(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).split())


def _ja_list(body: str) -> tuple[int, list[str]]:
    """The count and the names under 「賛同団体（N団体）」 in the letter's text."""
    lines = body.splitlines()
    for i, line in enumerate(lines):
        match = re.fullmatch(r"\s*賛同団体（(\d+)団体）\s*", line)
        if match:
            names = []
            for entry in lines[i + 1 :]:
                if not entry.strip():
                    break
                names.append(entry.strip())
            return int(match.group(1)), names
    raise AssertionError("no 賛同団体（N団体） section in the final letter's text")


@pytest.mark.slow
def test_demo_delivers_a_letter_listing_exactly_the_simulated_signers(tmp_path: Path) -> None:
    root = tmp_path / "demo"
    env = {k: v for k, v in os.environ.items() if not k.startswith("OUTREACH_")}
    command = [sys.executable, "-c", "from worker.cli import main; main()", "demo",
               "--dir", str(root), "--quiet"]  # fmt: skip
    done = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=420, check=False
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    summary: dict[str, Any] = json.loads((root / "summary.json").read_text())

    # 1. The service recorded exactly the organisations the simulation made sign.
    expected = set(summary["expected_signers"])
    assert len(expected) >= 20
    assert set(summary["signed"]) == expected
    assert summary["campaign_state"] == "delivered"
    outcomes = {row["scenario"]: row["outcome"] for row in summary["rows"]}
    assert outcomes["decline"] == "declined"
    assert outcomes["question"] == "question"
    assert outcomes["out of office"] == "invited"  # an auto-reply changes nothing
    assert outcomes["never answers"] == "invited"
    # Reminders never go to those who answered.
    answered = [r for r in summary["rows"] if r["outcome"] in ("signed", "declined", "question")]
    assert all(r["reminded"] == 0 for r in answered)
    # ... and the reminder round reached those who had not answered (an out-of-office included).
    silent = [r for r in summary["rows"] if r["scenario"] in ("out of office", "never answers")]
    assert len(silent) >= 2
    assert all(r["reminded"] == 1 for r in silent)

    # 2. One final letter reached the ministry, with both PDFs.
    assert len(summary["final_letters"]) == 1
    raw = Path(summary["final_letters"][0]).read_bytes()
    letter = message_from_bytes(raw, policy=policy.default)
    assert isinstance(letter, EmailMessage)
    assert "minister@mofa.example" in str(letter["To"])
    pdfs = sorted(Path(p).name for p in summary["pdfs"])
    assert pdfs == ["icc-2024-letter-en.pdf", "icc-2024-letter-ja.pdf"]

    # 3. Its text lists exactly the signers (Japanese names), with the right count.
    engine = create_engine(f"sqlite:///{root / 'data' / 'outreach.sqlite3'}")
    with Session(engine) as session:
        orgs = {o.key: o for o in session.scalars(select(Organisation))}
    engine.dispose()
    body = letter.get_body(("plain",))
    assert body is not None
    count, names = _ja_list(body.get_content())
    assert count == len(expected)
    assert sorted(names) == sorted(orgs[k].name_ja or "" for k in expected)

    # 4. The English PDF names every signer (the requested listing where one was asked for)
    #    and none of those who did not sign.
    if shutil.which("pdftotext") is None:
        pytest.fail("pdftotext missing: run scripts/install-system-deps.sh")
    en_pdf = next(Path(p) for p in summary["pdfs"] if p.endswith("-en.pdf"))
    text = _norm(subprocess.run(["pdftotext", str(en_pdf), "-"], capture_output=True,
                                text=True, check=True).stdout)  # fmt: skip
    assert f"Signatories ({len(expected)} organisations)" in text
    named = summary["requested_name_key"]
    for key in expected:
        listed = summary["requested_name"] if key == named else orgs[key].name_en or ""
        assert _norm(listed) in text, listed
    for key, org in orgs.items():
        if key not in expected and not org.is_coordinator and org.name_en:
            assert _norm(org.name_en) not in text, org.name_en

    # 5. The guided tour at the end: each command a lead types next works exactly as printed.
    out = done.stdout
    assert "Next, as the campaign's lead" in out, out[-3000:]
    after = out.split("Next, as the campaign's lead", 1)[1].splitlines()
    tour = [line.strip() for line in after if line.strip().startswith("OUTREACH_DATA_DIR=")]
    words = [t.split()[2:4] for t in tour]
    assert words == [["status"], ["review", "list"], ["evidence", "icc-2024"]], tour
    expect = ["Funnel", "question", ""]  # the evidence export is checked by its folder
    for command, needle in zip(tour, expect, strict=True):
        ran = subprocess.run(["bash", "-c", command], cwd=tmp_path, env=env, capture_output=True,
                             text=True, timeout=120, check=False)  # fmt: skip
        assert ran.returncode == 0, f"{command}\n{ran.stdout[-2000:]}{ran.stderr[-2000:]}"
        assert needle in ran.stdout, f"{command}\n{ran.stdout[-2000:]}"
    assert any((root / "evidence").iterdir())

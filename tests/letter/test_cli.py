"""The letter commands as a lead runs them: render, approve, resolve, evidence."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from worker.cli import _load_commands, app
from worker.errors import UserError
from worker.models import Campaign, InboundMessage, OutboundMessage, Signature

from .conftest import freeze, sign


def _run(*args: str, input: str | None = None) -> tuple[int, str]:
    _load_commands()
    result = CliRunner().invoke(app, list(args), input=input)
    if isinstance(result.exception, UserError):  # `outreach` prints these and exits 2
        return 2, result.output + str(result.exception)
    return result.exit_code, result.output


def test_letter_command_writes_a_draft_pdf_and_text(
    session: Session, seed_campaign: Campaign, tmp_path: Path
) -> None:
    sign(session, seed_campaign, ["green-osaka"])
    code, output = _run("letter", "icc-2024", "--lang", "ja", "--format", "pdf",
                        "-o", str(tmp_path / "ja.pdf"))  # fmt: skip
    assert code == 0, output
    assert (tmp_path / "ja.pdf").read_bytes().startswith(b"%PDF")
    code, output = _run("letter", "icc-2024", "--lang", "en", "--format", "text")
    assert code == 0, output
    assert "DRAFT" in output and "Green Osaka" in output and "(1 organisation)" in output


def test_approve_shows_the_pdfs_and_count_and_asks_first(
    session: Session, seed_campaign: Campaign
) -> None:
    from worker.actions import deliver

    sign(session, seed_campaign)
    freeze(session, seed_campaign)
    with session.begin_nested():
        deliver.prepare(session, seed_campaign.id, now=datetime.now(UTC))
    session.commit()
    code, output = _run("campaign", "approve", "icc-2024", input="n\n")
    assert code == 1
    assert "27" in output and "icc-2024-letter-ja.pdf" in output
    # Answering "no" says what happened and what to do next.
    assert "Not sent: the final letter of icc-2024 stays held for approval" in output
    session.expire_all()
    assert session.get(Campaign, seed_campaign.id).state == "awaiting_approval"  # type: ignore[union-attr]
    code, output = _run("campaign", "approve", "icc-2024", "--yes", "--by", "lead:carol")
    assert code == 0, output
    session.expire_all()
    campaign = session.get(Campaign, seed_campaign.id)
    assert campaign is not None and campaign.state == "delivering"
    assert (campaign.approved_by or "").startswith("cli:")  # the login, not what was typed
    assert (campaign.approved_by or "").endswith(" for lead:carol")


def test_resolve_needs_exactly_one_decision(session: Session, seed_campaign: Campaign) -> None:
    code, output = _run("outbox", "resolve", "1")
    assert code == 2 and "--sent" in output
    code, output = _run("outbox", "resolve", "999", "--sent")
    assert code == 2 and "no outbox message 999" in output


def test_evidence_export_writes_consent_records_and_raw_replies(
    session: Session, seed_campaign: Campaign, tmp_path: Path
) -> None:
    raw = b"From: info@wam.example\r\nMessage-ID: <reply-wam@ngo.example>\r\n\r\nYes, we sign.\r\n"
    inbound = InboundMessage(sha256="a" * 64, message_id="<reply-wam@ngo.example>", raw=raw,
                             source="imap")  # fmt: skip
    session.add(inbound)
    session.flush()
    sign(session, seed_campaign, ["wam"], inbound_message_id=inbound.id)
    sign(session, seed_campaign, ["ajf"], state="withdrawn",
         withdrawn_at=datetime(2024, 5, 26, tzinfo=UTC))  # fmt: skip
    code, output = _run("evidence", "icc-2024", "-o", str(tmp_path / "ev"))
    assert code == 0, output
    rows = list(csv.DictReader((tmp_path / "ev" / "signatories.csv").open(encoding="utf-8-sig")))
    by_key = {r["organisation_key"]: r for r in rows}
    assert set(by_key) == {"wam", "ajf"}
    wam = by_key["wam"]
    assert wam["on_letter_en"] == wam["on_letter_ja"] == "yes"
    assert by_key["ajf"]["on_letter_en"] == by_key["ajf"]["on_letter_ja"] == "no"
    assert wam["reply_message_id"] == "<reply-wam@ngo.example>"
    assert wam["received_at_utc"].endswith("+00:00")
    assert wam["authentication_results"].startswith("mx.hrn.example; dmarc=pass")
    assert wam["letter_hash_matches_campaign"] == "yes"
    assert (tmp_path / "ev" / wam["raw_reply_file"]).read_bytes() == raw
    code, output = _run("evidence", "verify", str(tmp_path / "ev"))
    assert code == 0, output
    assert session.scalars(select(Signature)).all()
    assert not session.scalars(select(OutboundMessage)).all()

"""A campaign built to provoke every error of the seed letter, through import, check, approval,
delivery and evidence: one count everywhere, no coordinator among the signatories, the filing
rules, glyphs covered, and evidence that verifies until one byte changes."""

from __future__ import annotations

import email
import os
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from email import policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from worker.actions import deliver
from worker.actions.check_campaign import check_campaign
from worker.actions.confirm_reading import confirm_reading
from worker.actions.evidence import export_evidence
from worker.actions.evidence_check import EvidenceInvalid, verify_evidence
from worker.actions.import_contacts import import_contacts
from worker.actions.letter import build_letters, build_signatories, check_letter
from worker.actions.status import gather_status
from worker.errors import UserError
from worker.models import Campaign, Invitation, Organisation, Signature

from .conftest import SECRET, freeze, sign

LONG = "Internationalnongovernmentalnetworkforpeacedisarmamentandhumanrightsinasiaxyzw"
assert len(LONG) == 78
HEADER = "org_id,name_en,name_ja,reading,language,email,person_name,domains,timezone,coordinator\n"
# org_id, name_en, name_ja, reading, language, domain (address info@ / japan@ the domain)
EXTRA_ROWS = [
    # a coordinator under a variant name, from its own domain, not flagged in the file
    ("hrw-japan", "Human Rights Watch (HRW)", "ヒューマン・ライツ・ウォッチ東京", "", "en",
     "hrw.example"),
    ("a-seed", "A SEED Japan", "エー・シード・ジャパン", "えーしーどじゃぱん", "ja",
     "aseed.example"),
    ("ajwrc", "the Asia-Japan Women's Resource Center", "アジア女性資料センター",
     "あじあじょせいしりょうせんたー", "ja", "ajwrc.example"),
    ("appf", "Asia Pacific Peace Forum", "アジア太平洋平和フォーラム",
     "あじあたいへいようへいわふぉーらむ", "ja", "appf.example"),
    ("oresund", "Øresund Peace Friends", "Øresund Peace Friends", "えーれすんどぴーすふれんず",
     "en", "oresund.example"),
    ("lodz", "Łódź Solidarity", "ウッチ連帯", "うっちれんたい", "en", "lodz.example"),
    ("long", LONG, LONG, "いんたーなしょなるねっとわーく", "en", "long.example"),
    ("smile", "Smile 😀 Network", "スマイル😀ネットワーク", "すまいるねっとわーく", "ja",
     "smile.example"),
    ("parc", "Pacific Asia Resource Center", "（特活）アジア太平洋資料センター", "", "ja",
     "parc.example"),
    ("takahashi", "", "髙橋平和基金", "", "ja", "takahashi.example"),
]  # fmt: skip
EXTRA = HEADER + "".join(
    f"{key},{en},{ja},{reading},{lang},{'japan' if key == 'hrw-japan' else 'info'}@{domain},,"
    f"{domain},,\n"
    for key, en, ja, reading, lang, domain in EXTRA_ROWS
)
DUPLICATE = HEADER + (
    "green-osaka-2,GREEN OSAKA,みどり大阪,みどりおおさか,ja,other@green-osaka.example,,"
    "green-osaka.example,,\n"
)
FIX_NAME = HEADER + (
    "takahashi,Takahashi Peace Fund,髙橋平和基金,たかはしへいわききん,ja,info@takahashi.example,,"
    "takahashi.example,,\n"
)
NOW = datetime.now(UTC) - timedelta(minutes=1)


def _import(session: Session, tmp_path: Path, name: str, text: str) -> None:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    import_contacts(session, "icc-2024", path, secret=SECRET, actor="test")
    session.commit()


def _pdftotext(pdf: bytes, tmp_path: Path, name: str) -> str:
    path = tmp_path / name
    path.write_bytes(pdf)
    done = subprocess.run(["pdftotext", "-enc", "UTF-8", str(path), "-"], capture_output=True,
                          check=True)  # fmt: skip
    return done.stdout.decode("utf-8")


def _flat(text: str) -> str:
    return "".join(text.split())


def _signature(session: Session, key: str) -> Signature:
    return session.scalars(
        select(Signature).join(Organisation).where(Organisation.key == key)
    ).one()


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils not installed")
def test_provoking_campaign_one_list_everywhere_and_evidence_that_verifies(
    session: Session, seed_campaign: Campaign, tmp_path: Path
) -> None:
    campaign = seed_campaign
    # 1. Imports: the extra organisations; one organisation again under another org_id.
    _import(session, tmp_path, "extra.csv", EXTRA)
    hrw = session.scalars(select(Organisation).where(Organisation.key == "hrw-japan")).one()
    assert hrw.is_coordinator  # recognised by name variant and domain, never invited
    with pytest.raises(UserError) as refused:
        _import(session, tmp_path, "dup.csv", DUPLICATE)
    session.rollback()
    assert "green-osaka" in str(refused.value) and "green-osaka.example" in str(refused.value)

    # 2. History: everyone signs; a withdrawal, a rename in Japanese, a late signer, an
    #    unsubscribed signatory, the coordinator's variant signing from its own domain.
    sign(session, campaign)
    _signature(session, "piece-of-syria").state = "withdrawn"
    _signature(session, "green-osaka").listed_name_ja = "グリーン大阪"
    late = _signature(session, "space-allies")
    late.is_late = True
    unsubscribed = session.scalars(
        select(Invitation).join(Organisation).where(Organisation.key == "kyoto-ywca")
    ).one()
    unsubscribed.state = "unsubscribed"
    session.commit()
    listed = build_signatories(session, campaign)
    assert "Space Allies" not in listed.names("en")  # late: held for the lead
    late.decided_by = "review:lead"  # the lead adds it
    session.commit()

    # 3. Check: guessed readings with their doubts, a missing English name, glyphs.
    problems = [str(p) for p in check_letter(session, campaign)]
    text = "\n".join(problems)
    assert "グリーン大阪: renamed, so its reading was recomputed" in text
    assert "髙橋平和基金: no English name" in text and "'髙橋' could not be read" in text
    parc = "（特活）アジア太平洋資料センター: reading guessed as あじあたいへいようしりょうせんたー"
    assert parc in text  # the bracketed legal form is not read
    assert not any("[fonts]" in p for p in problems), problems  # 😀 has a glyph
    definition = dict(campaign.definition)
    texts = dict(definition["letter_text"])
    texts["en"] = texts["en"] + "\nSigned by {{ coordinators }}.\n"
    campaign.definition = {**definition, "letter_text": texts}
    stray = [p for p in check_letter(session, campaign) if "template syntax" in p.message]
    lines = len(texts["en"].splitlines())
    assert [p.where for p in stray] == [f"icc-2024.letter.en.md:{lines}"]
    campaign.definition = definition
    session.commit()
    bad_glyph = check_letter_glyph_probe(session, campaign)
    assert "🕊 (U+1F54A)" in bad_glyph
    _import(session, tmp_path, "fix.csv", FIX_NAME)  # the lead supplies the English name
    with pytest.raises(UserError, match="not kana"):
        confirm_reading(session, campaign, "green-osaka", "Green", actor="cli:lead")
    confirm_reading(session, campaign, "green-osaka", "グリーンオオサカ", actor="cli:lead")
    session.commit()
    assert _signature(session, "green-osaka").listed_reading == "ぐりーんおおさか"
    assert not any("グリーン大阪" in str(p) for p in check_letter(session, campaign))

    # 4. The list: the coordinator is not on it; filing rules hold in both languages.
    listed = build_signatories(session, campaign)
    en, ja = listed.names("en"), listed.names("ja")
    assert not any("Human Rights Watch" in n or "ウォッチ" in n for n in en + ja)
    assert "Piece of Syria" not in en and "Space Allies" in en and "Kyoto YWCA" in en
    assert listed.count == len(en) == len(ja) == 27 - 1 + 9
    assert en.index("A SEED Japan") < en.index("Action For Stop Militarization")
    assert en.index("the Asia-Japan Women's Resource Center") < en.index(
        "Asia Pacific Peace Forum") < en.index("Asian Women for Equality")  # fmt: skip
    assert en.index("Nagoya YWCA") < en.index("Øresund Peace Friends") < en.index("Shizuoka YWCA")
    assert en.index("Kyoto YWCA") < en.index("Łódź Solidarity") < en.index("Nagoya YWCA")
    assert ja.index("熊本YWCA") < ja.index("グリーン大阪") < ja.index("軍事化ストップ・アクション")
    assert ja.index("Øresund Peace Friends") > ja.index("イラク戦争の検証を求めるネットワーク")
    assert ja.index("（特活）アジア太平洋資料センター") < ja.index("アフリカ日本協議会")
    assert not listed.blocking

    # 5. Deadline, final email with both PDFs, approval against the previewed list.
    campaign.requires_approval = True
    freeze(session, campaign, NOW)
    with session.begin_nested():
        deliver.prepare(session, campaign.id, now=NOW)
    session.commit()
    seen = deliver.record_preview(session, campaign, actor="cli:lead")
    session.commit()
    row = deliver.final_row(session, campaign.id)
    assert row is not None and row.raw is not None
    shown = deliver.raw_sha256(row)
    approved_at = NOW + timedelta(hours=2)
    deliver.approve(session, campaign, actor="cli:lead", now=approved_at, expected_sha256=shown,
                    expected_list_hash=seen["list_hash"])  # fmt: skip
    session.commit()
    message = email.message_from_bytes(row.raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    assert message["Date"].datetime == approved_at.replace(microsecond=0)  # dated when released
    n = listed.count
    assert f"{n}団体" in message["Subject"]
    body = message.get_body(("plain",))
    assert body is not None and f"{n}団体" in body.get_content()
    pdfs = deliver.attached_pdfs(row.raw)
    texts = {lang: _pdftotext(pdfs[f"icc-2024-letter-{lang}.pdf"], tmp_path, f"{lang}.pdf")
             for lang in ("en", "ja")}  # fmt: skip
    assert f"Signatories ({n} organisations)" in texts["en"]
    assert f"賛同団体（{n}団体）" in _flat(texts["ja"])
    for lang, names in (("en", en), ("ja", ja)):
        flat = _flat(texts[lang])
        positions = [flat.find(_flat(name)) for name in names]
        assert -1 not in positions, [nm for nm, p in zip(names, positions, strict=True) if p < 0]
        assert "(HRW)" not in flat
    keep = os.environ.get("OUTREACH_KEEP_PDFS")
    if keep:  # for looking at them: OUTREACH_KEEP_PDFS=out pytest -k provoking
        Path(keep).mkdir(parents=True, exist_ok=True)
        for name, pdf in pdfs.items():
            (Path(keep) / name).write_bytes(pdf)

    # 6. Evidence: every output's count, verified; one changed byte is named.
    folder = tmp_path / "evidence"
    export_evidence(session, campaign, folder, keys_dir=tmp_path / "keys", now=approved_at)
    manifest = verify_evidence(folder)
    assert manifest["signatory_count"] == n and manifest["signatory_list_hash"] == listed.digest()
    assert len(build_letters(session, campaign)["ja"].signatories) == n
    status = gather_status(session, approved_at, "icc-2024").campaigns[0]
    assert (status.funnel.on_letter, status.letter_list_hash) == (n, listed.digest())
    assert (folder / "organisations/green-osaka/history.json").exists()
    target = folder / "final" / "icc-2024-letter-ja.pdf"
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0x01
    target.write_bytes(bytes(data))
    with pytest.raises(EvidenceInvalid) as broken:
        verify_evidence(folder)
    assert "icc-2024-letter-ja.pdf" in str(broken.value)
    assert "SHA-256 differs" in str(broken.value)
    assert check_campaign is not None


def check_letter_glyph_probe(session: Session, campaign: Campaign) -> str:
    """An organisation asks to be listed with 🕊 (no installed font draws it): check names it."""
    signature = _signature(session, "smile")
    before = signature.listed_name_en
    signature.listed_name_en = "Dove 🕊 Network"
    session.flush()
    text = "\n".join(str(p) for p in check_letter(session, campaign) if p.field == "fonts")
    signature.listed_name_en = before
    session.commit()
    return text

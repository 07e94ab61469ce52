"""Consent records from the database -> the final letter, its template values and renderings."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

from markupsafe import Markup
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from worker.core.collation import normalised_name
from worker.core.letter import CoordinatorInput, Letter, SignatureInput, assemble_letter
from worker.core.states import CampaignState
from worker.errors import Problem
from worker.mail.context import definition_value, letter_html, localised
from worker.mail.pdf import render_letter_html, render_letter_pdf, render_letter_text
from worker.models import Campaign, Organisation, Signature, Suppression

Format = Literal["pdf", "html", "text"]

LABELS: dict[str, dict[str, str]] = {
    "en": {
        "coordinators": "Coordinating organizations",
        "signatories_one": "Signatories (1 organization)",
        "signatories_many": "Signatories ({n} organizations)",
        "no_signatories": "(no signatories yet)",
        "order_note": "Signatories are listed in alphabetical order.",
        "draft_watermark": "DRAFT",
        "draft_note": (
            "DRAFT: the signatory list is not final until the deadline ({deadline}). "
            "This version is not the letter that will be delivered."
        ),
        "count_one": "1 organization",
        "count_many": "{n} organizations",
    },
    "ja": {
        "coordinators": "呼びかけ団体",
        "signatories_one": "賛同団体（1団体）",
        "signatories_many": "賛同団体（{n}団体）",
        "no_signatories": "（まだ賛同団体はありません）",
        "order_note": "賛同団体は五十音順に掲載しています（法人格は除いて配列）。",
        "draft_watermark": "DRAFT 案",
        "draft_note": (
            "案：賛同団体の一覧は締切（{deadline}）まで確定しません。"
            "この版は提出される書簡ではありません。"
        ),
        "count_one": "1団体",
        "count_many": "{n}団体",
    },
}

# A letter file may open with its own date, addressee and title (as the published letter
# did). The template prints those from the campaign definition, so they are set aside.
_HEADING = re.compile(r"^\s{0,3}#{1,3}\s+(?P<title>.+?)\s*#*\s*$")
_PREAMBLE_MAX_LINES = 12


@dataclass(frozen=True)
class LetterText:
    subject: str | None  # the title heading found in the file, if it had a preamble
    preamble: str  # what came before it (date, addressee), not printed
    body: str


def split_letter_text(markdown_text: str) -> LetterText:
    """Separate an opening date/addressee block and title heading from the letter body."""
    lines = markdown_text.strip("\n").splitlines()
    non_empty = 0
    for index, line in enumerate(lines):
        if not line.strip():
            continue
        non_empty += 1
        if non_empty > _PREAMBLE_MAX_LINES:
            break
        match = _HEADING.match(line)
        if match:
            return LetterText(
                subject=match.group("title"),
                preamble="\n".join(lines[:index]).strip(),
                body="\n".join(lines[index + 1 :]).strip("\n") + "\n",
            )
    return LetterText(subject=None, preamble="", body=markdown_text)


def coordinator_inputs(session: Session, campaign: Campaign) -> list[CoordinatorInput]:
    """Coordinators from the definition, each linked to its Organisation row when one matches."""
    organisations = session.scalars(
        select(Organisation).where(
            Organisation.campaign_id == campaign.id, Organisation.is_coordinator.is_(True)
        )
    ).all()
    by_name: dict[str, int] = {}
    for org in organisations:
        for name in (org.name_en, org.name_ja):
            if name:
                by_name[normalised_name(name)] = org.id
    result: list[CoordinatorInput] = []
    for item in definition_value(campaign, "coordinators"):
        names = item.get("name") or {}
        org_id = next(
            (
                by_name[normalised_name(n)]
                for n in (names.get("en"), names.get("ja"))
                if n and normalised_name(n) in by_name
            ),
            None,
        )
        result.append(
            CoordinatorInput(names.get("en"), names.get("ja"), names.get("reading"), org_id)
        )
    return result


def signature_inputs(session: Session, campaign: Campaign) -> list[SignatureInput]:
    rows = session.execute(
        select(Signature, Organisation)
        .join(Organisation, Organisation.id == Signature.organisation_id)
        .where(Signature.campaign_id == campaign.id)
        .order_by(Signature.id)
    ).all()
    return [
        SignatureInput(
            organisation_id=org.id,
            state=sig.state,
            organisation_name_en=org.name_en,
            organisation_name_ja=org.name_ja,
            reading=org.reading,
            listed_name_en=sig.listed_name_en,
            listed_name_ja=sig.listed_name_ja,
            signed_at=sig.signed_at,
            # A late answer counts only once a person added it (decided_by "review:<who>").
            is_late=sig.is_late and not (sig.decided_by or "").startswith("review:"),
            is_coordinator=org.is_coordinator,
        )
        for sig, org in rows
    ]


def build_letters(session: Session, campaign: Campaign) -> dict[str, Letter]:
    """The letter in every language of the campaign, from the consent records as they stand."""
    texts: Mapping[str, str] = definition_value(campaign, "letter_text")
    coordinators = coordinator_inputs(session, campaign)
    signatures = signature_inputs(session, campaign)
    return {
        lang: assemble_letter(lang, split_letter_text(texts[lang]).body, coordinators, signatures)
        for lang in campaign.languages
        if lang in texts
    }


def is_draft(campaign: Campaign) -> bool:
    """Until the deadline scan froze the list, any rendering is a draft."""
    frozen_states = {
        CampaignState.CLOSING,
        CampaignState.AWAITING_APPROVAL,
        CampaignState.DELIVERING,
        CampaignState.DELIVERED,
    }
    return campaign.frozen_at is None or CampaignState(campaign.state) not in frozen_states


def letter_date(when: datetime, lang: str, tz: str) -> str:
    """The date line of a formal letter: "29 May 2024" / 「2024年5月29日」."""
    local = when.astimezone(ZoneInfo(tz))
    if lang == "ja":
        return f"{local.year}年{local.month}月{local.day}日"
    return f"{local.day} {local:%B} {local.year}"


def count_text(count: int, lang: str) -> str:
    labels = LABELS.get(lang, LABELS["en"])
    return labels["count_one"] if count == 1 else labels["count_many"].format(n=count)


def letter_context(
    session: Session,
    campaign: Campaign,
    lang: str,
    now: datetime,
    *,
    letters: Mapping[str, Letter] | None = None,
) -> dict[str, Any]:
    """Everything templates/letter/ needs to print the letter in `lang` as it stands at `now`."""
    letters = letters or build_letters(session, campaign)
    if lang not in letters:
        from worker.errors import UserError

        raise UserError(
            f"campaign {campaign.slug} has no letter in {lang!r} "
            f"(languages: {', '.join(campaign.languages)})"
        )
    letter = letters[lang]
    texts = definition_value(campaign, "letter_text")
    split = split_letter_text(texts[lang])
    recipient = definition_value(campaign, "ministry", "recipient")
    labels = dict(LABELS.get(lang, LABELS["en"]))
    draft = is_draft(campaign)
    from worker.mail.render import format_datetime

    labels["draft_note"] = labels["draft_note"].format(
        deadline=format_datetime(campaign.deadline, lang, campaign.timezone)
    )
    labels["signatories"] = (
        labels["signatories_one"]
        if letter.count == 1
        else labels["signatories_many"].format(n=letter.count)
    )
    dated = now if draft or campaign.frozen_at is None else campaign.frozen_at
    postal = (recipient.get("postal_address") or {}).get(lang) or ""
    sender = definition_value(campaign, "sender")
    return {
        "lang": lang,
        "is_draft": draft,
        "labels": labels,
        "date_text": letter_date(dated, lang, campaign.timezone),
        "addressee": {
            "name": localised(recipient.get("name"), lang),
            "title": localised(recipient.get("title"), lang),
            "postal_lines": [line for line in postal.splitlines() if line.strip()],
        },
        "subject": split.subject or localised(definition_value(campaign, "title"), lang),
        "body_html": Markup(letter_html(letter.text)),  # noqa: S704 (the lead's own file)
        "body_text": letter.text.strip(),
        "coordinators": list(letter.coordinators),
        "signatories": list(letter.names),
        "count": letter.count,
        "signatory_count_text": count_text(letter.count, lang),
        "letter_digest": letter.digest(),
        "campaign_slug": campaign.slug,
        "sender_name": localised(sender.get("name"), lang),
        "lead_email": sender.get("lead_email", ""),
    }


def render_letter(
    session: Session, campaign: Campaign, lang: str, fmt: Format, now: datetime
) -> bytes:
    """The letter in `lang` as PDF, HTML or text bytes (UTF-8 for HTML and text)."""
    context = letter_context(session, campaign, lang, now)
    if fmt == "pdf":
        return render_letter_pdf(context)
    if fmt == "html":
        return render_letter_html(context).encode("utf-8")
    return render_letter_text(context).encode("utf-8")


def pdf_filename(campaign: Campaign, lang: str) -> str:
    return f"{campaign.slug}-letter-{lang}.pdf"


def check_letter(session: Session, campaign: Campaign) -> list[Problem]:
    """What would make the final letter wrong or undeliverable, for `campaign check`.

    0. every language has its letter text; 1. the ministry has an address that is not
    suppressed; 2. each Japanese name can be placed in gojūon order (it has a reading);
    3. no two organisations print the same name. (A letter file that opens with its own
    date/addressee block is fine: the template prints those from the definition instead.)
    """
    where = campaign.source_path or campaign.slug
    problems: list[Problem] = []
    texts = (campaign.definition or {}).get("letter_text") or {}
    for lang in campaign.languages:  # 0
        if not (texts.get(lang) or "").strip():
            problems.append(
                Problem(where, f"letter.{lang}", "no letter text; add the file and reload")
            )
    recipient = ((campaign.definition or {}).get("ministry") or {}).get("recipient") or {}
    email = (recipient.get("email") or "").lower()
    if not email:  # 1
        problems.append(Problem(where, "ministry.recipient.email", "missing"))
    elif session.scalar(
        select(func.count()).select_from(Suppression).where(func.lower(Suppression.email) == email)
    ):
        problems.append(
            Problem(
                where,
                "ministry.recipient.email",
                f"{email} is on the suppression list; the final letter could not be sent there",
            )
        )
    if not texts:
        return problems
    letters = build_letters(session, campaign)
    seen: set[str] = set()
    for lang, letter in letters.items():  # 2, 3
        for message in letter.problems:
            if message not in seen:
                seen.add(message)
                problems.append(Problem(f"letter ({lang})", "signatories", message))
    return problems


def signatory_names(letters: Mapping[str, Letter]) -> dict[str, Sequence[str]]:
    return {lang: letter.names for lang, letter in letters.items()}


# ---------------------------------------------------------------------------------------------
# Evidence: who agreed, when and how


EVIDENCE_COLUMNS = (
    "organisation_key",
    "organisation_name_en",
    "organisation_name_ja",
    "listed_name_en",
    "listed_name_ja",
    "signature_state",
    "on_letter",
    "reply_message_id",
    "from",
    "received_at_local",
    "received_at_utc",
    "authentication_results",
    "decided_by",
    "letter_hash",
    "letter_hash_matches_campaign",
    "is_late",
    "signed_at_utc",
    "withdrawn_at_utc",
    "inbound_message_id",
    "raw_reply_file",
)


@dataclass(frozen=True)
class EvidenceExport:
    csv_path: str
    rows: int
    replies_written: int
    missing_replies: int


def _iso_local(value: datetime | None, tz: str) -> str:
    return value.astimezone(ZoneInfo(tz)).isoformat(timespec="seconds") if value else ""


def _iso_utc(value: datetime | None) -> str:
    from datetime import UTC

    return value.astimezone(UTC).isoformat(timespec="seconds") if value else ""


def export_evidence(session: Session, campaign: Campaign, out_dir: Any) -> EvidenceExport:
    """Write DIR/signatories.csv (one consent record per line) and DIR/replies/<id>.eml.

    Every signature is listed, withdrawn and late ones included, with `on_letter` saying
    whether the organisation is printed on the letter.
    """
    import csv
    from pathlib import Path

    from worker.models import InboundMessage

    folder = Path(out_dir)
    replies = folder / "replies"
    replies.mkdir(parents=True, exist_ok=True)
    letters = build_letters(session, campaign)
    listed = {s.organisation_id for letter in letters.values() for s in letter.signatories}
    rows = session.execute(
        select(Signature, Organisation)
        .join(Organisation, Organisation.id == Signature.organisation_id)
        .where(Signature.campaign_id == campaign.id)
        .order_by(Organisation.key)
    ).all()
    written = missing = 0
    csv_path = folder / "signatories.csv"
    with csv_path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(EVIDENCE_COLUMNS)
        for sig, org in rows:
            raw_file = ""
            if sig.inbound_message_id is not None:
                inbound = session.get(InboundMessage, sig.inbound_message_id)
                if inbound is not None:
                    name = f"{inbound.id}.eml"
                    (replies / name).write_bytes(inbound.raw)
                    raw_file = f"replies/{name}"
                    written += 1
                else:
                    missing += 1
            writer.writerow(
                (
                    org.key,
                    org.name_en or "",
                    org.name_ja or "",
                    sig.listed_name_en or "",
                    sig.listed_name_ja or "",
                    sig.state,
                    "yes" if org.id in listed else "no",
                    sig.reply_message_id or "",
                    sig.from_addr or "",
                    _iso_local(sig.received_at, campaign.timezone),
                    _iso_utc(sig.received_at),
                    sig.auth_results or "",
                    sig.decided_by,
                    sig.letter_hash,
                    "yes" if sig.letter_hash == campaign.letter_hash else "no",
                    "yes" if sig.is_late else "no",
                    _iso_utc(sig.signed_at),
                    _iso_utc(sig.withdrawn_at),
                    sig.inbound_message_id or "",
                    raw_file,
                )
            )
    return EvidenceExport(str(csv_path), len(rows), written, missing)

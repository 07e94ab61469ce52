"""Consent records from the database -> the final letter, its template values and renderings."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.orm import Session

from worker.actions.suppression import is_suppressed
from worker.core.collation import name_variants
from worker.core.letter import (
    CoordinatorInput,
    Letter,
    SignatoryList,
    SignatureInput,
    letter_from_list,
    signatory_list,
)
from worker.core.letter_text import check_letter_texts
from worker.core.states import CampaignState
from worker.errors import Problem, UserError
from worker.mail.context import definition_value, letter_html, localised
from worker.mail.pdf import (
    missing_glyphs,
    render_letter_html,
    render_letter_pdf,
    render_letter_text,
)
from worker.models import Campaign, Organisation, Signature

Format = Literal["pdf", "html", "text"]

LABELS: dict[str, dict[str, str]] = {
    "en": {
        "coordinators": "Coordinating organisations",
        "signatories_one": "Signatories (1 organisation)",
        "signatories_many": "Signatories ({n} organisations)",
        "no_signatories": "(no signatories yet)",
        "order_note": "Signatories are listed in alphabetical order.",
        "draft_watermark": "DRAFT",
        "draft_note": (
            "DRAFT: the signatory list is not final until the deadline ({deadline}). "
            "This version is not the letter that will be delivered."
        ),
        "count_one": "1 organisation",
        "count_many": "{n} organisations",
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


def _domain(address: str | None) -> str | None:
    return address.rpartition("@")[2].lower() if address and "@" in address else None


def coordinator_inputs(session: Session, campaign: Campaign) -> list[CoordinatorInput]:
    """Coordinators from the definition, each with its Organisation row when one is the same
    organisation (a name variant, an alias or a mail domain in common), its domains and aliases.
    """
    organisations = session.scalars(
        select(Organisation).where(Organisation.campaign_id == campaign.id)
    ).all()
    result: list[CoordinatorInput] = []
    for item in definition_value(campaign, "coordinators"):
        names = item.get("name") or {}
        own_names = {v for n in (names.get("en"), names.get("ja")) if n for v in name_variants(n)}
        domains = {d for d in [_domain(item.get("email"))] if d}
        matches = [
            org
            for org in organisations
            if any(own_names & name_variants(n) for n in _org_names(org))
            or domains & {d.lower() for d in org.domains or []}
        ]
        org = matches[0] if matches else None
        aliases = tuple(a for m in matches for a in (m.aliases or []))
        domains |= {d.lower() for m in matches for d in (m.domains or [])}
        result.append(
            CoordinatorInput(
                name_en=names.get("en"),
                name_ja=names.get("ja"),
                reading=names.get("reading"),
                organisation_id=org.id if org else None,
                domains=tuple(sorted(domains)),
                aliases=aliases,
            )
        )
    # A row flagged coordinator in the contacts file is a coordinator even if unnamed above.
    for org in organisations:
        if org.is_coordinator and all(c.organisation_id != org.id for c in result):
            result_extra = CoordinatorInput(
                org.name_en, org.name_ja, org.reading, org.id,
                tuple(d.lower() for d in org.domains or []), tuple(org.aliases or []),
            )  # fmt: skip
            # Recognised, not printed: the definition's list is the printed one.
            result.append(result_extra)
    return result


def _org_names(org: Organisation) -> list[str]:
    return [n for n in (org.name_en, org.name_ja, *(org.aliases or [])) if n]


def printed_coordinators(
    campaign: Campaign, coordinators: Sequence[CoordinatorInput]
) -> list[CoordinatorInput]:
    """The coordinators the letter prints: those of the definition, in its order."""
    return list(coordinators[: len(definition_value(campaign, "coordinators"))])


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
            reading_source="lead" if org.reading_confirmed_by else org.reading_source,
            listed_reading=sig.listed_reading,
            domains=tuple(org.domains or ()),
            from_domain=_domain(sig.from_addr),
            aliases=tuple(org.aliases or ()),
        )
        for sig, org in rows
    ]


def build_signatories(session: Session, campaign: Campaign) -> SignatoryList:
    """The campaign's one signatory list, from the consent records as they stand."""
    coordinators = coordinator_inputs(session, campaign)
    return signatory_list(coordinators, signature_inputs(session, campaign))


def list_summary(session: Session, campaign: Campaign) -> tuple[int, str]:
    """(count, hash) of the signatory list, for `status`; (0, "") before there can be one."""
    try:
        signatories = build_signatories(session, campaign)
    except UserError:  # a definition without coordinators or letter: nothing to list yet
        return 0, ""
    return signatories.count, signatories.digest()


def build_letters(
    session: Session, campaign: Campaign, signatories: SignatoryList | None = None
) -> dict[str, Letter]:
    """The letter in every language of the campaign: views of one signatory list."""
    texts: Mapping[str, str] = definition_value(campaign, "letter_text")
    coordinators = coordinator_inputs(session, campaign)
    if signatories is None:
        signatories = signatory_list(coordinators, signature_inputs(session, campaign))
    printed = printed_coordinators(campaign, coordinators)
    return {
        lang: letter_from_list(lang, split_letter_text(texts[lang]).body, printed, signatories)
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
        "list_hash": letter.list_hash,
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
    """What would make the final letter wrong or undeliverable, for `campaign check` and
    the approval step.

    0. every language has its letter text, and the files hold no template syntax, no
       unsupported Markdown and no missing translation (file and line named);
    1. the ministry has an address that is not suppressed;
    2. the signatory list: names missing in a language, readings nobody confirmed (guessed,
       or recomputed after a rename, with what may be wrong), two organisations printing
       the same name;
    3. every character of every printed name has a glyph in an installed font (an emoji
       without one would print as an empty box).
    (A letter file that opens with its own date/addressee block is fine: the template prints
    those from the definition instead.)
    """
    where = campaign.source_path or campaign.slug
    problems: list[Problem] = []
    texts = (campaign.definition or {}).get("letter_text") or {}
    files = (campaign.definition or {}).get("letter") or {}
    for lang in campaign.languages:  # 0
        if not (texts.get(lang) or "").strip():
            problems.append(
                Problem(where, f"letter.{lang}", "no letter text; add the file and reload")
            )
    for text_problem in check_letter_texts({k: v for k, v in texts.items() if v}):
        name = files.get(text_problem.language) or f"letter.{text_problem.language}"
        problems.append(Problem(f"{name}:{text_problem.line}", None, text_problem.message))
    recipient = ((campaign.definition or {}).get("ministry") or {}).get("recipient") or {}
    email = (recipient.get("email") or "").lower()
    if not email:  # 1
        problems.append(Problem(where, "ministry.recipient.email", "missing"))
    elif is_suppressed(session, email):
        problems.append(
            Problem(
                where,
                "ministry.recipient.email",
                f"{email} is on the suppression list; the final letter could not be sent there",
            )
        )
    if not texts:
        return problems
    signatories = build_signatories(session, campaign)
    for item in signatories.problems:  # 2
        label = "must be fixed before approval" if item.blocking else "confirm"
        problems.append(Problem("letter", f"signatories ({label})", item.message))
    letters = build_letters(session, campaign, signatories)
    for lang, letter in letters.items():  # 3
        for name in (*letter.coordinators, *letter.names):
            missing = missing_glyphs(name)
            if missing:
                shown = ", ".join(f"{c} (U+{ord(c):04X})" for c in missing)
                problems.append(Problem(
                    f"letter ({lang})", "fonts",
                    f"{name}: no installed font can print {shown}; ask the organisation for "
                    "the name without it, or install a font that has it",
                ))  # fmt: skip
    return problems


def signatory_names(letters: Mapping[str, Letter]) -> dict[str, Sequence[str]]:
    return {lang: letter.names for lang, letter in letters.items()}

"""Read model of the letter page (both languages, count, list hash, what goes to whom) and the
web's approval, which releases exactly the message the lead was shown."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from worker.actions import deliver
from worker.actions.letter import build_letters, build_signatories, pdf_filename, render_letter
from worker.actions.overview import campaign_or_404
from worker.core.states import CampaignState, OutboxState
from worker.errors import UserError
from worker.models import Organisation, Signature


@dataclass(frozen=True)
class LanguageView:
    language: str
    count: int
    list_hash: str  # the letter's digest: text, coordinators and every listed name
    names: tuple[str, ...]
    problems: tuple[str, ...]


@dataclass(frozen=True)
class Reading:
    """A Japanese name whose kana reading came from the analyser: a person should confirm it."""

    name_ja: str
    reading: str


@dataclass
class LetterPage:
    slug: str
    state: str
    timezone: str
    deadline: datetime
    languages: list[LanguageView] = field(default_factory=list)
    readings: list[Reading] = field(default_factory=list)
    can_approve: bool = False  # the campaign waits for approval and the letter is prepared
    # The one signatory list every output prints: its count and hash (recorded as previewed
    # by the person shown it; approval must name the same hash).
    list_count: int = 0
    list_hash: str = ""
    blocking: tuple[str, ...] = ()
    approved_by: str | None = None
    approved_at: datetime | None = None
    # The held final email, when prepared: exactly what approval sends, and to whom.
    message_sha256: str | None = None
    message_id: str | None = None
    subject: str | None = None
    to: str | None = None
    cc: tuple[str, ...] = ()
    attachments: tuple[str, ...] = ()
    final_state: str | None = None


def letter_page(session: Session, slug: str, *, now: datetime, viewer: str) -> LetterPage:
    """The letter as it stands. A held final letter is brought up to date first (as the CLI's
    approve does), so what the page shows is what the approval button sends; when it can be
    approved, the list shown is recorded as previewed by `viewer`."""
    campaign = campaign_or_404(session, slug)
    if campaign.state == CampaignState.AWAITING_APPROVAL.value:
        deliver.refresh_held_letter(session, campaign, now=now)
    signatories = build_signatories(session, campaign)
    letters = build_letters(session, campaign, signatories)
    page = LetterPage(campaign.slug, campaign.state, campaign.timezone, campaign.deadline)
    page.list_count, page.list_hash = signatories.count, signatories.digest()
    page.blocking = tuple(p.message for p in signatories.blocking)
    page.approved_by, page.approved_at = campaign.approved_by, campaign.approved_at
    for lang, letter in letters.items():
        page.languages.append(
            LanguageView(lang, letter.count, letter.digest(), letter.names, letter.problems)
        )
    analysed = session.execute(
        select(Organisation.name_ja, Organisation.reading)
        .join(Signature, Signature.organisation_id == Organisation.id)
        .where(Organisation.campaign_id == campaign.id, Signature.state == "active",
               Organisation.reading_source == "analyser")
        .order_by(Organisation.reading)
    ).tuples()  # fmt: skip
    page.readings = [Reading(name or "", reading or "") for name, reading in analysed]
    final = deliver.final_row(session, campaign.id)
    if final is not None and final.raw is not None:
        page.final_state = final.state
        page.message_sha256 = deliver.raw_sha256(final)
        page.message_id = final.message_id
        page.subject = final.subject
        page.to = final.recipients[0] if final.recipients else None
        page.cc = tuple(final.recipients[1:])
        page.attachments = tuple(sorted(deliver.attached_pdfs(final.raw)))
        page.can_approve = (
            campaign.state == CampaignState.AWAITING_APPROVAL.value
            and final.state == OutboxState.HELD.value
        )
    if page.can_approve:
        deliver.record_preview(session, campaign, actor=viewer)
    return page


def letter_file(session: Session, slug: str, lang: str, fmt: str, *, now: datetime) -> bytes:
    """The PDF (or HTML) of the letter in `lang`: the attached PDF of a prepared final letter,
    else a fresh rendering (with a DRAFT mark until the deadline froze the list)."""
    campaign = campaign_or_404(session, slug)
    if lang not in campaign.languages:
        raise UserError(f"campaign {slug} has no letter in {lang!r}")
    if fmt == "pdf":
        final = deliver.final_row(session, campaign.id)
        if final is not None and final.raw is not None:
            attached = deliver.attached_pdfs(final.raw).get(pdf_filename(campaign, lang))
            if attached is not None:
                return attached
    return render_letter(session, campaign, lang, "pdf" if fmt == "pdf" else "html", now)


def approve_letter(
    session: Session,
    slug: str,
    *,
    expected_sha256: str,
    expected_list_hash: str,
    actor: str,
    now: datetime,
) -> int:
    """Release the held final letter, refusing if the message or the signatory list changed
    since the page showed them."""
    campaign = campaign_or_404(session, slug)
    if not expected_sha256 or not expected_list_hash:
        raise UserError("the approval must name the letter it approves; reload the letter page")
    row = deliver.approve(
        session, campaign, actor=actor, now=now, expected_sha256=expected_sha256,
        expected_list_hash=expected_list_hash,
    )  # fmt: skip
    return row.id

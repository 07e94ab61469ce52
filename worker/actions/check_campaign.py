"""Check a campaign before anything is sent: every email renders for every contact and language."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from worker.actions.campaigns import find_campaign as find_campaign  # re-exported for callers
from worker.actions.forecast import schedule_problems
from worker.core import tokens
from worker.errors import Problem, UserError
from worker.mail.context import CONTACT_KINDS, LEAD_KINDS, SAMPLE_EXTRA
from worker.mail.outgoing import prepare_contact_email, prepare_lead_email
from worker.mail.render import PARTS, TemplateProblem, template_name
from worker.models import Campaign, Contact, Invitation

_MAX_CONTACTS_NAMED = 5  # a problem shared by many contacts names the first few and the count


@dataclass
class CheckReport:
    """What `campaign check` found: problems (empty means all good) and what was rendered."""

    campaign: str
    languages: list[str]
    contacts: int = 0
    rendered: int = 0
    problems: list[Problem] = field(default_factory=list)
    letter_checked: bool = False

    @property
    def ok(self) -> bool:
        return not self.problems


def invitation_for(
    session: Session, campaign: Campaign, contact: Contact, secret: bytes
) -> Invitation:
    """The contact's invitation, or the one it will get (same token, so the same Message-ID).

    A stand-in is never added to the session: checking and previewing store nothing.
    """
    invitation = session.scalars(
        select(Invitation).where(
            Invitation.campaign_id == campaign.id, Invitation.contact_id == contact.id
        )
    ).first()
    if invitation is not None:
        return invitation
    stand_in = Invitation(
        campaign_id=campaign.id,
        organisation_id=contact.organisation_id,
        contact_id=contact.id,
        token=tokens.make_token(secret, campaign.slug, contact.email),
        language=contact.language,
        state="pending",
    )
    stand_in.contact = contact
    stand_in.organisation = contact.organisation
    return stand_in


def _missing_templates(templates_dir: Path, languages: Sequence[str]) -> list[Problem]:
    problems = []
    for kind in (*CONTACT_KINDS, *LEAD_KINDS):
        for lang in languages:
            for part in PARTS:
                name = template_name(kind, lang, part)
                if not (templates_dir / name).is_file():
                    problems.append(
                        Problem(
                            name, None, f"template file is missing; create {templates_dir / name}"
                        )
                    )
    return problems


def check_campaign(
    session: Session, slug: str, *, secret: bytes, now: datetime, templates_dir: Path
) -> CheckReport:
    """Render every email kind for every contact, in its own language and in every other language
    of the campaign, and collect every problem (one entry per template error, naming contacts).
    """
    campaign = find_campaign(session, slug)
    languages = [str(lang) for lang in campaign.languages]
    report = CheckReport(campaign=slug, languages=languages)
    # 1. every template file exists for every language of the campaign
    report.problems.extend(_missing_templates(templates_dir, languages))
    failures: dict[tuple[str, str], list[str]] = {}

    def attempt(label: str, build: Callable[[], object]) -> None:
        try:
            build()
            report.rendered += 1
        except TemplateProblem as exc:
            key = (exc.problems[0].where, exc.detail)
            failures.setdefault(key, []).append(label)
        except UserError as exc:
            failures.setdefault((campaign.source_path or slug, exc.message), []).append(label)

    # 2. each contact's emails, in its own language first, then the campaign's other languages
    contacts = session.scalars(
        select(Contact)
        .where(Contact.campaign_id == campaign.id)
        .options(selectinload(Contact.organisation))
        .order_by(Contact.email)
    ).all()
    report.contacts = len(contacts)
    if not contacts:
        report.problems.append(
            Problem(slug, "contacts", "no contacts; import them with `outreach contacts import`")
        )
    with session.no_autoflush:  # languages are switched in memory only, never stored
        for contact in contacts:
            invitation = invitation_for(session, campaign, contact, secret)
            own = invitation.language
            for lang in [own, *(x for x in languages if x != own)]:
                invitation.language = lang
                for kind in CONTACT_KINDS:
                    attempt(
                        f"{contact.email} ({lang})",
                        partial(
                            prepare_contact_email,
                            campaign,
                            invitation,
                            kind,
                            1,
                            secret=secret,
                            now=now,
                        ),
                    )
            invitation.language = own
    # 3. the campaign lead's reports, with sample values
    for lang in languages:
        for kind in LEAD_KINDS:
            attempt(
                f"lead ({lang})",
                partial(
                    prepare_lead_email,
                    campaign,
                    kind,
                    1,
                    key="check",
                    now=now,
                    extra=SAMPLE_EXTRA[kind],
                    lang=lang,
                ),
            )
    for (where, message), labels in failures.items():
        shown = ", ".join(labels[:_MAX_CONTACTS_NAMED])
        more = len(labels) - _MAX_CONTACTS_NAMED
        who = f"{shown} and {more} more" if more > 0 else shown
        report.problems.append(Problem(where, None, f"{message} (for {who})"))
    # 4. the final letter, when the letter module is installed
    try:
        letter = importlib.import_module("worker.actions.letter")
    except ModuleNotFoundError as exc:
        if exc.name != "worker.actions.letter":
            raise
    else:
        report.problems.extend(letter.check_letter(session, campaign))
        report.letter_checked = True
    # 5. the schedule: every invitation and listed reminder can go before the deadline
    report.problems.extend(schedule_problems(session, campaign, now))
    if session.in_transaction():
        session.rollback()  # a check stores nothing, whatever a helper touched
    return report

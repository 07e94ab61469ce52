"""A campaign from the web form: the same definition file the YAML route loads, then contacts."""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from sqlalchemy.orm import Session

from worker.actions.import_contacts import ImportSummary, import_contacts
from worker.actions.load_campaign import load_campaign, read_definition
from worker.errors import Problem, UserError


@dataclass
class CampaignForm:
    """The fields of the new-campaign form, as typed (validated by the definition's schema)."""

    slug: str
    title: dict[str, str]
    languages: list[str]
    timezone: str
    letter: dict[str, str]  # Markdown text per language
    coordinators: list[dict[str, Any]]  # {"email", "name": {"en","ja","reading"}, "lead"}
    ministry: dict[str, Any]  # {"recipient": {...}, "cc": [...]}
    sender: dict[str, Any]
    invite_at: str  # ISO; without an offset it is read in `timezone`
    deadline: str
    reminders: list[str] = field(default_factory=list)  # "3 days", "PT12H", ...
    quiet_start: str = "21:00"
    quiet_end: str = "08:00"
    requires_approval: bool = True


@dataclass
class Created:
    slug: str
    definition_path: Path
    contacts: ImportSummary | None


def _when(value: str, tz: str, field_name: str) -> str:
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise UserError(
            f"{field_name}: {value!r} is not a date and time; use e.g. 2024-05-29T17:00"
        ) from None
    if parsed.tzinfo is None:
        try:
            parsed = parsed.replace(tzinfo=ZoneInfo(tz))
        except (ZoneInfoNotFoundError, ValueError):
            raise UserError(f"timezone: unknown {tz!r}; use e.g. Asia/Tokyo") from None
    return parsed.isoformat()


def definition_of(form: CampaignForm) -> dict[str, Any]:
    """The YAML mapping `outreach campaign load` reads, letters named beside it."""
    quiet: Any = {"start": form.quiet_start, "end": form.quiet_end}
    if not form.quiet_start.strip() and not form.quiet_end.strip():
        quiet = "off"
    return {
        "slug": form.slug.strip(),
        "title": {k: v for k, v in form.title.items() if v.strip()},
        "languages": form.languages,
        "timezone": form.timezone.strip(),
        "letter": {lang: f"{form.slug.strip()}.letter.{lang}.md" for lang in form.letter},
        "coordinators": form.coordinators,
        "ministry": form.ministry,
        "sender": form.sender,
        "schedule": {
            "invite_at": _when(form.invite_at, form.timezone, "schedule.invite_at"),
            "deadline": _when(form.deadline, form.timezone, "schedule.deadline"),
            "reminders_before_deadline": [r.strip() for r in form.reminders if r.strip()],
            "quiet_hours": quiet,
        },
        "requires_approval": form.requires_approval,
    }


def create_campaign(
    session: Session,
    form: CampaignForm,
    contacts_csv: bytes | None,
    *,
    campaigns_dir: Path,
    secret: bytes,
    actor: str,
) -> Created:
    """Write the definition and letters, load them, then import the contacts' good rows.

    1. Refuse a slug whose files already exist (a form never overwrites a lead's files).
    2. Validate in a scratch folder first: a refused form leaves no file behind.
    3. Move the files into the campaigns folder and load them (same path as the CLI).
    4. Import the CSV, skipping bad rows; the summary lists each with row, field and problem.
    """
    definition = definition_of(form)
    slug = definition["slug"]
    if not slug:
        raise UserError("slug: give the campaign a short name, e.g. icc-2024")
    target = campaigns_dir / f"{slug}.yaml"
    # 1.
    if target.exists():
        raise UserError(
            f"slug: {target} already exists; choose another slug (or edit that file and load it)",
            [Problem("slug", "slug", "already used")],
        )
    names = {"yaml": f"{slug}.yaml", **{lang: definition["letter"][lang] for lang in form.letter}}
    # 2.
    with tempfile.TemporaryDirectory(prefix="outreach-form-") as scratch:
        folder = Path(scratch)
        (folder / names["yaml"]).write_text(
            "# Written by the web console's new-campaign form.\n"
            + yaml.safe_dump(definition, allow_unicode=True, sort_keys=False),
            encoding="utf-8",
        )
        for lang, text in form.letter.items():
            (folder / names[lang]).write_text(text.replace("\r\n", "\n"), encoding="utf-8")
        read_definition(folder / names["yaml"])
        # 3.
        campaigns_dir.mkdir(parents=True, exist_ok=True)
        for name in names.values():
            shutil.copy(folder / name, campaigns_dir / name)
    load_campaign(session, target, actor=actor)
    # 4.
    summary = None
    if contacts_csv:
        csv_path = campaigns_dir / f"{slug}.contacts.csv"
        csv_path.write_bytes(contacts_csv)
        summary = import_contacts(
            session, slug, csv_path, secret=secret, skip_bad_rows=True, actor=actor
        )
    return Created(slug, target, summary)


def import_contacts_upload(
    session: Session, slug: str, data: bytes, *, campaigns_dir: Path, secret: bytes, actor: str
) -> ImportSummary:
    """A later CSV upload for an existing campaign (same rules as `outreach contacts import`)."""
    csv_path = campaigns_dir / f"{slug}.contacts.csv"
    campaigns_dir.mkdir(parents=True, exist_ok=True)
    csv_path.write_bytes(data)
    return import_contacts(session, slug, csv_path, secret=secret, skip_bad_rows=True, actor=actor)

"""Import a campaign's organisations and addresses from CSV; re-importing updates in place."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from worker.actions import audit
from worker.actions.campaigns import find_campaign
from worker.core.audit_actions import AuditAction
from worker.core.contacts_csv import EncodingProblem, OrgRecord, decode_csv, parse_contacts
from worker.core.identity import Identity, first_match, same_organisation
from worker.core.readings import reading_of
from worker.core.states import CAMPAIGN_COLLECTING, CampaignState, InvitationState
from worker.core.tokens import make_token
from worker.errors import Problem, UserError
from worker.models import Campaign, Contact, Invitation, Organisation

R = TypeVar("R", Contact, Organisation)  # a row an import creates or brings up to date

# Invitations are created only while the campaign may still send them.
_INVITING_STATES = CAMPAIGN_COLLECTING  # new contacts are invited until the deadline

Progress = Callable[[int, int], None]  # (organisations done, organisations in total)


@dataclass
class ImportSummary:
    encoding: str
    rows: int = 0
    skipped_rows: list[int] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)  # of skipped rows
    organisations: dict[str, int] = field(
        default_factory=lambda: {"created": 0, "updated": 0, "unchanged": 0}
    )
    contacts: dict[str, int] = field(
        default_factory=lambda: {"created": 0, "updated": 0, "unchanged": 0}
    )
    invitations_created: int = 0
    kept_not_in_file: list[str] = field(default_factory=list)  # "org_id <email>"
    readings_from_analyser: int = 0
    coordinators_recognised: list[str] = field(default_factory=list)  # "org_id: why"


def import_contacts(
    session: Session,
    campaign_slug: str,
    path: Path,
    *,
    secret: bytes,
    skip_bad_rows: bool = False,
    actor: str = "cli",
    progress: Progress | None = None,
) -> ImportSummary:
    """Validate the whole file, then upsert organisations, contacts and first invitations.

    Nothing is written when any row is bad, unless `skip_bad_rows` (then the bad rows are
    listed in the summary). Runs in the caller's transaction; raises UserError on bad input.
    """
    campaign = find_campaign(session, campaign_slug)

    # 1. Decode: UTF-8 (BOM or not), else Shift_JIS from Excel.
    try:
        data = path.read_bytes()
    except (FileNotFoundError, IsADirectoryError):
        raise UserError(f"{path}: no such file; give the path of a contacts .csv file") from None
    try:
        decoded = decode_csv(data)
    except EncodingProblem as exc:
        raise UserError(f"{path}: {exc}") from None
    summary = ImportSummary(encoding=decoded.encoding)

    # 2. Validate every row before touching the database.
    parsed = parse_contacts(decoded.text)
    if parsed.header_problems:
        raise UserError(
            f"{path}: the header row is not usable (read as {decoded.encoding})",
            [Problem(f"{path} row {p.row}", p.field, p.message) for p in parsed.header_problems],
        )
    problems = [Problem(f"{path} row {p.row}", p.field, p.message) for p in parsed.problems]
    summary.rows = parsed.total_rows
    if problems and not skip_bad_rows:
        raise UserError(
            f"{path}: {len(parsed.bad_rows)} of {parsed.total_rows} rows have problems "
            f"(read as {decoded.encoding}); nothing was imported. Fix them, or import the good "
            "rows only with --skip-bad-rows",
            problems,
        )
    summary.skipped_rows = sorted(parsed.bad_rows)
    summary.problems = problems

    # 3. Upsert, organisation by organisation.
    existing_orgs = {
        o.key: o
        for o in session.scalars(
            select(Organisation).where(Organisation.campaign_id == campaign.id)
        )
    }
    existing_contacts = {
        c.email.lower(): c
        for c in session.scalars(select(Contact).where(Contact.campaign_id == campaign.id))
    }
    invited_orgs = set(
        session.scalars(
            select(Invitation.organisation_id).where(Invitation.campaign_id == campaign.id)
        )
    )
    _check_identities(path, campaign, parsed.organisations, existing_orgs, summary)
    may_invite = CampaignState(campaign.state) in _INVITING_STATES
    in_file: set[str] = set()
    conflicts: list[Problem] = []
    total = len(parsed.organisations)
    for done, record in enumerate(parsed.organisations, start=1):
        org = _upsert_organisation(session, campaign, record, existing_orgs, summary, actor)
        for position, row in enumerate(record.contacts):
            in_file.add(row.email)
            contact = existing_contacts.get(row.email)
            if contact is not None and contact.organisation_id != org.id:
                owner = session.get(Organisation, contact.organisation_id)
                conflicts.append(
                    Problem(
                        f"{path} row {row.row}",
                        "email",
                        f"{row.email} already belongs to organisation "
                        f"{owner.key if owner else '?'!r} in this campaign; an address cannot "
                        "move between organisations by import",
                    )
                )
                continue
            wanted = {
                "person_name": row.person_name,
                "language": row.language,
                "position": position,
            }
            existing_contacts[row.email] = _save(
                session,
                contact,
                partial(Contact, campaign_id=campaign.id, organisation_id=org.id, email=row.email),
                wanted,
                summary.contacts,
                actor=actor,
                detail={"email": row.email},
                created_detail={"org_id": record.org_id},
            )
        # 4. One invitation per organisation, to its primary address, while invitations can go.
        if may_invite and not record.is_coordinator and org.id not in invited_orgs:
            primary = existing_contacts.get(record.contacts[0].email)
            if primary is not None and primary.organisation_id == org.id:
                invitation = Invitation(
                    campaign_id=campaign.id,
                    organisation_id=org.id,
                    contact_id=primary.id,
                    token=make_token(secret, campaign.slug, primary.email),
                    state=InvitationState.PENDING.value,
                    language=primary.language,
                )
                session.add(invitation)
                session.flush()
                invited_orgs.add(org.id)
                summary.invitations_created += 1
                audit.event(
                    session, invitation, actor=actor, action=AuditAction.INVITATION_CREATED,
                    to_state="pending", detail={"email": primary.email},
                )  # fmt: skip
        if progress is not None:
            progress(done, total)

    if conflicts:
        raise UserError(
            f"{path}: {len(conflicts)} address(es) conflict with the database; "
            "nothing was imported",
            conflicts,
        )

    # 5. Addresses the file no longer lists are kept (they may carry replies and signatures).
    keys = {o.id: o.key for o in existing_orgs.values()}
    for email, contact in sorted(existing_contacts.items()):
        if email not in in_file:
            summary.kept_not_in_file.append(f"{keys.get(contact.organisation_id, '?')} <{email}>")
    return summary


def _upsert_organisation(
    session: Session,
    campaign: Campaign,
    record: OrgRecord,
    existing: dict[str, Organisation],
    summary: ImportSummary,
    actor: str,
) -> Organisation:
    # A reading in the file wins; otherwise the analyser reads the Japanese name.
    if record.reading:
        reading, source = record.reading, "file"
    elif record.name_ja:
        reading, source = reading_of(record.name_ja), "analyser"
        summary.readings_from_analyser += 1
    else:
        reading, source = None, None
    wanted: dict[str, Any] = {
        "name_en": record.name_en,
        "name_ja": record.name_ja,
        "reading": reading,
        "reading_source": source,
        "language": record.language,
        "timezone": record.timezone,
        "domains": record.domains,
        "is_coordinator": record.is_coordinator,
        "aliases": record.aliases,
    }
    org = _save(
        session,
        existing.get(record.org_id),
        partial(Organisation, campaign_id=campaign.id, key=record.org_id),
        wanted,
        summary.organisations,
        actor=actor,
        detail={"org_id": record.org_id},
    )
    existing[record.org_id] = org
    return org


def _check_identities(
    path: Path,
    campaign: Campaign,
    records: list[OrgRecord],
    existing: dict[str, Organisation],
    summary: ImportSummary,
) -> None:
    """One organisation, one row: refuse a new org_id that is an organisation already in the
    campaign (a name variant, alias or own mail domain in common), naming both; mark the
    organisations that are coordinators of the definition as coordinators (never invited,
    never listed among the signatories)."""
    known = [
        Identity(o.key, (o.name_en or "", o.name_ja or "", *(o.aliases or [])),
                 tuple(o.domains or []), "the database")
        for o in existing.values()
    ]  # fmt: skip
    coordinators = [
        Identity(
            f"coordinator {(c.get('name') or {}).get('en') or (c.get('name') or {}).get('ja')}",
            ((c.get("name") or {}).get("en") or "", (c.get("name") or {}).get("ja") or ""),
            (str(c.get("email") or "").rpartition("@")[2],),
        )
        for c in (campaign.definition or {}).get("coordinators") or []
    ]
    duplicates: list[Problem] = []
    for record in records:
        identity = Identity(record.org_id, (record.name_en or "", record.name_ja or "",
                                            *record.aliases), tuple(record.domains))  # fmt: skip
        if record.org_id not in existing:
            match = first_match(identity, known)
            if match:
                other, why = match
                duplicates.append(Problem(
                    f"{path} row {record.first_row}", "org_id",
                    f"{record.org_id!r} is organisation {other.key!r} already imported ({why}); "
                    f"use org_id {other.key!r} on this row to add its address, or give the "
                    "two organisations names and domains that tell them apart",
                ))  # fmt: skip
        for coordinator in coordinators:
            reason = same_organisation(identity, coordinator)
            if reason and not record.is_coordinator:
                record.is_coordinator = True
                summary.coordinators_recognised.append(
                    f"{record.org_id}: {coordinator.key}, {reason}"
                )
    if duplicates:
        raise UserError(
            f"{path}: {len(duplicates)} organisation(s) of the file are already in campaign "
            f"{campaign.slug} under another org_id; nothing was imported",
            duplicates,
        )


# What `_save` audits, by table and outcome.
_SAVED = {
    ("contact", "created"): AuditAction.CONTACT_CREATED,
    ("contact", "updated"): AuditAction.CONTACT_UPDATED,
    ("organisation", "created"): AuditAction.ORGANISATION_CREATED,
    ("organisation", "updated"): AuditAction.ORGANISATION_UPDATED,
}


def _assign(row: Any, wanted: dict[str, Any]) -> list[str]:
    """Set only the attributes that differ (so an unchanged row is not written at all)."""
    changed = []
    for name, value in wanted.items():
        if getattr(row, name) != value:
            setattr(row, name, value)
            changed.append(name)
    return changed


def _save(
    session: Session,
    row: R | None,
    create: Callable[..., R],
    wanted: dict[str, Any],
    counts: dict[str, int],
    *,
    actor: str,
    detail: dict[str, Any],
    created_detail: dict[str, Any] | None = None,
) -> R:
    """Create the row (`create(**wanted)`), or set what differs on the one there; count which
    it was (created, updated, unchanged) and audit a creation or an update (what changed)."""
    if row is None:
        row = create(**wanted)
        session.add(row)
        session.flush()
        outcome, more = "created", created_detail or {}
    else:
        changed = _assign(row, wanted)
        outcome, more = ("updated", {"changed": changed}) if changed else ("unchanged", {})
    counts[outcome] += 1
    if outcome != "unchanged":
        action = _SAVED[type(row).__tablename__, outcome]
        audit.event(session, row, actor=actor, action=action, detail=detail | more)
    return row

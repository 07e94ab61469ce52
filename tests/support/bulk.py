"""Large campaigns, fast: organisations, contacts and invitations inserted in bulk (Core
executemany, so model defaults apply), for bench/scan.py and the EXPLAIN test."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from worker.models import Campaign, Contact, Invitation, Organisation

REPO = Path(__file__).resolve().parents[2]
CHUNK = 10_000


def stored_definition(slug: str, invite_at: datetime, deadline: datetime) -> dict[str, Any]:
    from worker.actions.load_campaign import read_definition

    definition = copy.deepcopy(
        read_definition(REPO / "config" / "campaigns" / "icc-2024.yaml").stored
    )
    definition["slug"] = slug
    definition["schedule"]["invite_at"] = invite_at.isoformat()
    definition["schedule"]["deadline"] = deadline.isoformat()
    definition["schedule"]["quiet_hours"] = {"start": "00:00", "end": "00:00"}
    return definition


def bulk_campaign(
    session: Session,
    n: int,
    *,
    slug: str,
    state: str = "invited",
    invited_ago: timedelta = timedelta(hours=1),
    deadline_in: timedelta = timedelta(days=10),
    now: datetime | None = None,
) -> int:
    """A campaign of `n` organisations with one contact and one invitation each, all in
    `state` (invited `invited_ago`, so with the default deadline nothing is due). Commits."""
    now = now or datetime.now(UTC)
    invite_at = now - invited_ago - timedelta(minutes=1)
    deadline = now + deadline_in
    definition = stored_definition(slug, invite_at, deadline)
    campaign = Campaign(
        slug=slug, title=definition["title"]["en"], state="open", timezone="Asia/Tokyo",
        languages=definition["languages"], invite_at=invite_at, deadline=deadline,
        requires_approval=True, definition=definition, definition_hash="d" * 64,
        letter_hash="l" * 64,
    )  # fmt: skip
    session.add(campaign)
    session.flush()
    cid = campaign.id
    for start in range(0, n, CHUNK):
        stop = min(n, start + CHUNK)
        session.execute(
            insert(Organisation),
            [
                {"campaign_id": cid, "key": f"org{i:07d}", "name_en": f"NGO {i}", "language": "en"}
                for i in range(start, stop)
            ],
        )
        orgs = dict(
            session.execute(
                select(Organisation.key, Organisation.id).where(
                    Organisation.campaign_id == cid,
                    Organisation.key.in_([f"org{i:07d}" for i in range(start, stop)]),
                )
            ).all()
        )
        session.execute(
            insert(Contact),
            [
                {
                    "campaign_id": cid,
                    "organisation_id": orgs[f"org{i:07d}"],
                    "email": f"info{i}@ngo{i}-{slug}.example",
                }
                for i in range(start, stop)
            ],
        )
        contacts = session.execute(
            select(Contact.id, Contact.organisation_id).where(
                Contact.campaign_id == cid, Contact.organisation_id.in_(list(orgs.values()))
            )
        ).all()
        session.execute(
            insert(Invitation),
            [
                {
                    "campaign_id": cid,
                    "organisation_id": org_id,
                    "contact_id": contact_id,
                    "token": f"{slug}-{contact_id}",
                    "language": "en",
                    "state": state,
                    "invited_at": now - invited_ago if state != "pending" else None,
                }
                for contact_id, org_id in contacts
            ],
        )
        session.commit()
    return cid


def _fill(table: Any, given: dict[str, str]) -> tuple[str, str]:
    """Column list and SELECT expressions for an INSERT ... SELECT: the given SQL expressions,
    and for every other NOT NULL column its model default (a constant, or now() for a clock)."""
    names, values = [], []
    for column in table.columns:
        if column.name in given:
            names.append(column.name)
            values.append(given[column.name])
        elif not column.nullable and not column.primary_key and column.server_default is None:
            default = column.default
            if default is None:
                raise ValueError(f"{table.name}.{column.name}: no value and no default")
            value = default.arg
            if default.is_callable:
                try:
                    value = value(None)
                except TypeError:
                    value = value()
            if isinstance(value, datetime):
                expr = "now()"
            elif isinstance(value, list | dict):
                expr = "'" + json.dumps(value).replace("'", "''") + "'"
            elif isinstance(value, bool):
                expr = "true" if value else "false"
            elif isinstance(value, int | float):
                expr = str(value)
            else:
                expr = "'" + str(value).replace("'", "''") + "'"
            names.append(column.name)
            values.append(expr)
    return ", ".join(names), ", ".join(values)


def bulk_campaign_sql(session: Session, n: int, *, slug: str, now: datetime) -> int:
    """`bulk_campaign` for PostgreSQL at a million rows: INSERT ... SELECT generate_series,
    every row invited an hour ago (nothing due with the default deadline). Commits."""
    from sqlalchemy import text

    invite_at = now - timedelta(hours=1, minutes=1)
    deadline = now + timedelta(days=10)
    definition = stored_definition(slug, invite_at, deadline)
    campaign = Campaign(
        slug=slug, title=definition["title"]["en"], state="open", timezone="Asia/Tokyo",
        languages=definition["languages"], invite_at=invite_at, deadline=deadline,
        requires_approval=True, definition=definition, definition_hash="d" * 64,
        letter_hash="l" * 64,
    )  # fmt: skip
    session.add(campaign)
    session.flush()
    cid = campaign.id
    cols, exprs = _fill(
        Organisation.__table__,
        {
            "campaign_id": str(cid),
            "key": "'org' || i",
            "name_en": "'NGO ' || i",
            "language": "'en'",
        },
    )
    session.execute(
        text(f"INSERT INTO organisation ({cols}) SELECT {exprs} FROM generate_series(1, {n}) i")
    )
    cols, exprs = _fill(
        Contact.__table__,
        {
            "campaign_id": str(cid),
            "organisation_id": "o.id",
            "email": f"'info' || o.id || '@ngo' || o.id || '-{slug}.example'",
            "language": "'en'",
        },
    )
    session.execute(
        text(
            f"INSERT INTO contact ({cols}) SELECT {exprs} "
            f"FROM organisation o WHERE o.campaign_id = {cid}"
        )
    )
    cols, exprs = _fill(
        Invitation.__table__,
        {
            "campaign_id": str(cid),
            "organisation_id": "c.organisation_id",
            "contact_id": "c.id",
            "token": f"'{slug}-' || c.id",
            "language": "'en'",
            "state": "'invited'",
            "invited_at": "now() - interval '1 hour'",
        },
    )
    session.execute(
        text(
            f"INSERT INTO invitation ({cols}) SELECT {exprs} "
            f"FROM contact c WHERE c.campaign_id = {cid}"
        )
    )
    session.commit()
    return cid

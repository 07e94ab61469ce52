"""The one way to find an organisation's signature row, so a batch can answer it from memory.

An intake batch (`actions.reply_lookups.Prefetched`) reads the signatures of every
organisation it may touch in one query and holds them on the session (`index_signatures`);
while it runs, `find_signature` answers from that index, and `remember_signature` adds a row
the batch creates. Without an index each call is one query, as before.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from worker.core.states import SignatureState
from worker.models import Signature

_INDEX = "outreach.signature_index"
Pair = tuple[int, int]  # (campaign_id, organisation_id): unique per signature row


def find_signature(session: Session, campaign_id: int, organisation_id: int) -> Signature | None:
    """The organisation's signature row in this campaign, whatever its state (at most one)."""
    index: dict[Pair, Signature | None] | None = session.info.get(_INDEX)
    if index is not None and (campaign_id, organisation_id) in index:
        return index[(campaign_id, organisation_id)]
    return session.scalars(
        select(Signature).where(
            Signature.campaign_id == campaign_id, Signature.organisation_id == organisation_id
        )
    ).first()


def active_signature(session: Session, campaign_id: int, organisation_id: int) -> Signature | None:
    """The organisation's signature that currently counts, if any."""
    found = find_signature(session, campaign_id, organisation_id)
    return found if found is not None and found.state == SignatureState.ACTIVE.value else None


def index_signatures(session: Session, pairs: Iterable[Pair]) -> None:
    """Read the signature rows of these pairs in one query and answer from them until
    `drop_index`. Call with the rows locked or in the transaction that writes them."""
    wanted = set(pairs)
    index: dict[Pair, Signature | None] = dict.fromkeys(wanted)
    if wanted:
        for row in session.scalars(
            select(Signature).where(
                tuple_(Signature.campaign_id, Signature.organisation_id).in_(sorted(wanted))
            )
        ):
            index[(row.campaign_id, row.organisation_id)] = row
    session.info[_INDEX] = index


def remember_signature(session: Session, signature: Signature) -> None:
    """A row just added to the session: the index (if any) answers it from now on."""
    index: dict[Pair, Signature | None] | None = session.info.get(_INDEX)
    if index is not None:
        index[(signature.campaign_id, signature.organisation_id)] = signature


def drop_index(session: Session) -> None:
    session.info.pop(_INDEX, None)

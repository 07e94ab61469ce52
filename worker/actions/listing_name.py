"""Sign with the names the organisation asked for: one per letter version, sure or not.

A name found only in our quoted form is kept (never silently dropped), the acknowledgement
asks the organisation to confirm it, and a review item shows it to the lead. A second name
for the other language version ("掲載名：X" and "English name: Y") goes on the same signature,
so both letters print what was asked; the acknowledgement shows both lines.
"""

from __future__ import annotations

from typing import Any

from worker.actions.consent import sign
from worker.actions.notices import queue_contact, sequence
from worker.actions.reply_context import Context
from worker.core.classify import Classification
from worker.core.names import is_japanese


def sign_as_asked(ctx: Context, result: Classification, decided_by: str) -> str | None:
    """Record the signature with its names and acknowledge it; returns a review reason when a
    person should look at the name, else None."""
    plain = result.name_sure and not result.other_name
    signature = sign(ctx, name=result.name, decided_by=decided_by, acknowledge=plain)
    if plain:
        return None
    if result.other_name:
        if is_japanese(result.other_name):
            signature.listed_name_ja = result.other_name
        else:
            signature.listed_name_en = result.other_name
    extra: dict[str, Any] = {} if result.name_sure else {"unsure_name": result.name}
    queue_contact(ctx, "acknowledgement", sequence(ctx), extra)
    return None if result.name_sure else confirm_unsure_name(result)


def confirm_unsure_name(result: Classification) -> str:
    """Why the lead sees this signature: its name came from the quoted form only."""
    evidence = next((r for r in result.reasons if r.startswith("listing-name-unsure")), "")
    return (f"signed; listing name {result.name!r} found only in the quoted form, asked to "
            f"confirm in the acknowledgement ({evidence}); correct it with "
            "`review resolve ID --as sign --name ...` or close it with --as ignore")

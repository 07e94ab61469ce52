"""A listing name we are not sure of (found only in the quoted form): asked, and shown."""

from __future__ import annotations

from worker.actions.notices import queue_contact, sequence
from worker.actions.reply_context import Context
from worker.core.classify import Classification


def confirm_unsure_name(ctx: Context, result: Classification) -> str:
    """The signature already carries the name (never silently dropped); the acknowledgement
    asks the organisation to confirm it, and the returned review reason shows it to the lead."""
    queue_contact(ctx, "acknowledgement", sequence(ctx), {"unsure_name": result.name})
    evidence = next((r for r in result.reasons if r.startswith("listing-name-unsure")), "")
    return (f"signed; listing name {result.name!r} found only in the quoted form, asked to "
            f"confirm in the acknowledgement ({evidence}); correct it with "
            "`review resolve ID --as sign --name ...` or close it with --as ignore")

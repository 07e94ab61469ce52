"""Recognise mail the service itself sent that came back to the polled mailbox.

A lead whose address is the reply mailbox receives our question forwards and bounce reports
there; an acknowledgement copied to a shared inbox can loop back too. Such a message is ours,
not an answer: it is finished at once and never becomes a review item.
"""

from __future__ import annotations

from worker.actions.reply_lookups import Lookups
from worker.core.decode import MessageHeaders


def own_message(lookups: Lookups, headers: MessageHeaders) -> str | None:
    """Evidence that this is one of our own outgoing messages, else None.

    Both must hold: 1. its Message-ID is one we generated and stored for an outgoing message;
    2. its From is that campaign's sender address. (A redirect by an NGO keeps both; a
    reply or a forward written by a person never has our Message-ID.)
    """
    if not headers.message_id or not headers.from_address:
        return None
    row = lookups.own(headers.message_id)
    if row is None:
        return None
    kind, definition = row
    sender = str(((definition or {}).get("sender") or {}).get("address") or "").lower()
    if sender != headers.from_address.lower():
        return None
    return f"own-mail: our {kind} {headers.message_id} from {sender}"

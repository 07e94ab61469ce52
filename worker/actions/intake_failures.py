"""A stored message whose processing failed: count the attempts, and after a few put it before
a person, so a bug never loses a reply nor retries it for ever."""

from __future__ import annotations

import re

from sqlalchemy.orm import Session

from worker.actions.review import open_review
from worker.core.states import InboundState
from worker.core.untrusted import db_text
from worker.models import InboundMessage

MAX_ATTEMPTS = 3
# The attempt count is kept at the head of the message's error text: "processing failed (2): ..."
_FAILED = re.compile(r"^processing failed \((\d+)\)")


def failed_attempts(error: str | None) -> int:
    """How many processing attempts an error text records (0 for none)."""
    match = _FAILED.match(error or "")
    return int(match.group(1)) if match else 0


def record_processing_failure(
    session: Session, inbound_id: int, exc: BaseException, *, max_attempts: int = MAX_ATTEMPTS
) -> None:
    """Record one more failed attempt; at `max_attempts` the message goes to review.

    A message no longer `stored` (processed meanwhile, or already in review) is left alone.
    """
    inbound = session.get(InboundMessage, inbound_id)
    if inbound is None or inbound.state != InboundState.STORED.value:
        return
    attempt = failed_attempts(inbound.error) + 1
    # db_text: the exception may quote the message (a NUL would make this write fail too)
    inbound.error = db_text(f"processing failed ({attempt}): {type(exc).__name__}: {exc}")[:4000]
    if attempt >= max_attempts:
        inbound.state = InboundState.REVIEW.value
        open_review(session, inbound, None, None, inbound.error)

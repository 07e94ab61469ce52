"""Which recipient domains are ours to receive mail for (LMTP refuses the rest)."""

from __future__ import annotations

import time

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from worker.models import Campaign


def receiving_domains(session: Session, configured: str = "") -> set[str]:
    """OUTREACH_LMTP_DOMAINS (comma-separated) plus each campaign's sender.reply_domain."""
    domains = {d.strip().lower().strip(".") for d in configured.split(",") if d.strip()}
    for definition in session.scalars(select(Campaign.definition)):
        sender = (definition or {}).get("sender") or {}
        domain = str(sender.get("reply_domain") or "").strip().lower()
        if domain:
            domains.add(domain)
    return domains


def domains_reader(
    sessions: sessionmaker[Session], configured: str = "", ttl: float = 30.0
) -> _Reader:
    """A callable for the LMTP listener: the current domains. An answer is reused for `ttl`
    seconds (every RCPT asks, and reading every campaign definition each time cost more than
    storing the message); `fresh=True` reads again, which the listener does before refusing
    a domain, so a campaign created a moment ago is never refused."""
    return _Reader(sessions, configured, ttl)


class _Reader:
    def __init__(self, sessions: sessionmaker[Session], configured: str, ttl: float) -> None:
        self.sessions = sessions
        self.configured = configured
        self.ttl = ttl
        self._known: tuple[float, set[str]] | None = None

    def peek(self) -> set[str] | None:
        """The answer held, while it is fresh; None when the next call must read."""
        known = self._known
        return known[1] if known is not None and time.monotonic() - known[0] < self.ttl else None

    def __call__(self, *, fresh: bool = False) -> set[str]:
        held = None if fresh else self.peek()
        if held is not None:
            return held
        with self.sessions() as session:
            domains = receiving_domains(session, self.configured)
        self._known = (time.monotonic(), domains)
        return domains

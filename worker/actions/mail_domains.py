"""Which recipient domains are ours to receive mail for (LMTP refuses the rest)."""

from __future__ import annotations

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


def domains_reader(sessions: sessionmaker[Session], configured: str = "") -> _Reader:
    """A callable for the LMTP listener: the current domains, read fresh at each call."""
    return _Reader(sessions, configured)


class _Reader:
    def __init__(self, sessions: sessionmaker[Session], configured: str) -> None:
        self.sessions = sessions
        self.configured = configured

    def __call__(self) -> set[str]:
        with self.sessions() as session:
            return receiving_domains(session, self.configured)

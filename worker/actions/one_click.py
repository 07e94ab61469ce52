"""RFC 8058 one-click unsubscribe: the HTTPS link in List-Unsubscribe, verified and idempotent."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from worker.actions.reply_context import Context
from worker.actions.suppression import is_suppressed, unsubscribe
from worker.core.tokens import make_token
from worker.errors import NotFound
from worker.mail.outgoing import UNSUBSCRIBE_PATH, unsubscribe_url
from worker.models import Campaign, Invitation


@dataclass(frozen=True)
class Unsubscribed:
    email: str
    campaign_title: str
    language: str
    already: bool  # the address was suppressed before this request


def _invitation(session: Session, token: str, secret: bytes) -> Invitation:
    """The invitation whose token this is, checked against the secret key (constant time)."""
    invitation = session.scalars(select(Invitation).where(Invitation.token == token)).first()
    if invitation is not None:
        campaign = session.get(Campaign, invitation.campaign_id)
        assert campaign is not None
        expected = make_token(secret, campaign.slug, invitation.contact.email)
        if hmac.compare_digest(expected, token):
            return invitation
    raise NotFound("this unsubscribe link is not valid (it may have been mistyped)")


def describe(session: Session, token: str, secret: bytes) -> Unsubscribed:
    """Who the link unsubscribes, without changing anything (the page before the button)."""
    invitation = _invitation(session, token, secret)
    campaign = session.get(Campaign, invitation.campaign_id)
    assert campaign is not None
    email = invitation.contact.email
    return Unsubscribed(email, campaign.title, invitation.language, is_suppressed(session, email))


def one_click_unsubscribe(
    session: Session, token: str, secret: bytes, *, now: datetime
) -> Unsubscribed:
    """Suppress the invitation's address. A second request changes nothing and says so."""
    invitation = _invitation(session, token, secret)
    campaign = session.get(Campaign, invitation.campaign_id)
    assert campaign is not None
    email = invitation.contact.email
    already = is_suppressed(session, email)
    if not already:
        ctx = Context(session, campaign, invitation, None, now, secret, "one-click-unsubscribe")
        unsubscribe(ctx, decided_by="one-click-unsubscribe")
    return Unsubscribed(email, campaign.title, invitation.language, already)


__all__ = [
    "UNSUBSCRIBE_PATH",
    "Unsubscribed",
    "describe",
    "one_click_unsubscribe",
    "unsubscribe_url",
]

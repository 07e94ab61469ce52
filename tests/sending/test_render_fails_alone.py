"""One invitation that cannot be rendered fails alone, named in the review queue; the rest go."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from worker.actions import invite
from worker.core.states import InvitationState
from worker.models import Invitation, OutboundMessage, ReviewItem

from .conftest import SECRET, build_campaign


def test_one_unrenderable_invitation_fails_alone_and_is_named(
    session: Session, env: dict[str, str]
) -> None:
    campaign = build_campaign(session, 5)
    invitations = session.scalars(select(Invitation).order_by(Invitation.id)).all()
    broken = invitations[2]
    # A language the campaign has no letter or template for (edited in the database).
    broken.language = "fr"
    session.commit()
    ids = [inv.id for inv in invitations]
    now = datetime.now(UTC)
    invite.invite(session, campaign.id, ids, now=now, secret=SECRET)
    invite.invite(session, campaign.id, ids, now=now, secret=SECRET)  # the next scan
    session.commit()
    session.expire_all()
    states = {inv.id: inv.state for inv in session.scalars(select(Invitation))}
    assert states[broken.id] == InvitationState.PENDING.value
    assert [s for i, s in states.items() if i != broken.id] == [InvitationState.INVITED.value] * 4
    assert len(session.scalars(select(OutboundMessage)).all()) == 4
    (reason,) = session.scalars(select(ReviewItem.reason)).all()  # once, not at every scan
    assert broken.contact.email in reason and "could not be rendered" in reason

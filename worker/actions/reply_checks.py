"""Before a reply may act: is its sender who it claims (DKIM, From), is a bounce about our mail?"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from worker.core import matching
from worker.core.authentication import UnauthenticatedReplies
from worker.core.bounce_proof import bounce_proof, returned_message_ids
from worker.core.decode import MessageHeaders, parse_message
from worker.mail import authenticate
from worker.models import Campaign, InboundMessage, Invitation, OutboundMessage

CHECKED_BY = "outreach-dkim"  # how our own DKIM results are labelled in the evidence
UNPROVEN_BOUNCE = (
    "bounce without proof (not sent to our VERP address, none of our Message-IDs returned); "
    "shown here, nothing changed: "
)


def verify_reply(
    inbound: InboundMessage,
    headers: MessageHeaders,
    match: matching.Match,
    invitation: Invitation,
    campaign: Campaign,
    authserv_id: str,
) -> matching.Verification:
    """The sender verification policy (worker.core.matching.verify_sender) with DKIM checked
    here, and its result written into the message's evidence (auth_results, classification),
    which a signature copies."""
    checks = authenticate.check_dkim(inbound.raw) if not headers.from_ambiguity else []
    setting = (campaign.definition or {}).get(
        "unauthenticated_replies", UnauthenticatedReplies.ACCEPT.value
    )
    verdict = matching.verify_sender(
        match=match,
        from_address=headers.from_address,
        invited_address=invitation.contact.email,
        organisation_domains=[str(d) for d in (invitation.organisation.domains or [])],
        auth_results=headers.authentication_results,
        authserv_id=authserv_id,
        from_ambiguity=headers.from_ambiguity,
        dkim=checks,
        unauthenticated=str(setting),
    )
    lines = [f"{CHECKED_BY}; {c.describe()}" for c in checks]
    if verdict.authentication:
        lines.append(f"{CHECKED_BY}; verdict={verdict.authentication}")
    if lines:
        inbound.auth_results = "\n".join(filter(None, [inbound.auth_results, *lines]))
    # A new dict, not an in-place change: the JSON column only notices assignment.
    inbound.classification = {
        **(inbound.classification or {}),
        "verification": list(verdict.reasons),
        "authentication": verdict.authentication or None,
        "dkim": [c.describe() for c in checks],
    }
    return verdict


def prove_bounce(
    session: Session, inbound: InboundMessage, headers: MessageHeaders, invitation: Invitation
) -> str | None:
    """Proof that this delivery report answers a message we sent for `invitation`, or None."""
    ours = set(
        session.scalars(
            select(OutboundMessage.message_id).where(
                OutboundMessage.invitation_id == invitation.id
            )
        )
    )
    try:
        returned = returned_message_ids(parse_message(inbound.raw))
    except Exception:  # a report we cannot read proves nothing
        returned = []
    return bounce_proof(
        token=invitation.token,
        recipients=[*headers.delivered_to, *headers.x_original_to, *headers.to],
        returned_ids=returned,
        our_message_ids={m for m in ours if m},
    )

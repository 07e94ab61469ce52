"""Every state of a campaign, invitation, outbox row, received message, review item, signature
and contact address, and the allowed moves: each state set is declared here once."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, TypeVar


class CampaignState(StrEnum):
    DRAFT = "draft"  # loaded, nothing sent; everything may still change
    OPEN = "open"  # invitations/reminders go out as they fall due
    PAUSED = "paused"  # nothing new is sent until resumed
    CLOSING = "closing"  # deadline passed: signatory list frozen, final letter being prepared
    AWAITING_APPROVAL = "awaiting_approval"  # final letter ready, waits for a lead
    DELIVERING = "delivering"  # final letter queued to the ministry
    DELIVERED = "delivered"  # ministry got it; "delivered" notices follow
    CANCELLED = "cancelled"


CAMPAIGN_TRANSITIONS: dict[CampaignState, frozenset[CampaignState]] = {
    CampaignState.DRAFT: frozenset({CampaignState.OPEN, CampaignState.CANCELLED}),
    CampaignState.OPEN: frozenset(
        {CampaignState.PAUSED, CampaignState.CLOSING, CampaignState.CANCELLED}
    ),
    CampaignState.PAUSED: frozenset(
        {CampaignState.OPEN, CampaignState.CLOSING, CampaignState.CANCELLED}
    ),
    CampaignState.CLOSING: frozenset(
        {CampaignState.AWAITING_APPROVAL, CampaignState.DELIVERING, CampaignState.CANCELLED}
    ),
    CampaignState.AWAITING_APPROVAL: frozenset({CampaignState.DELIVERING, CampaignState.CANCELLED}),
    CampaignState.DELIVERING: frozenset({CampaignState.DELIVERED}),
    CampaignState.DELIVERED: frozenset(),
    CampaignState.CANCELLED: frozenset(),
}

# Before the deadline: answers still change the signatory list, new contacts are invited, and
# the schedule (invite time, deadline) may still change. Declared once, named for each use.
CAMPAIGN_COLLECTING = frozenset({CampaignState.DRAFT, CampaignState.OPEN, CampaignState.PAUSED})
CAMPAIGN_SCHEDULE_EDITABLE = CAMPAIGN_COLLECTING
# After the deadline, before delivery: a lead may still add a late signatory.
CAMPAIGN_AWAITING_LEAD = frozenset({CampaignState.CLOSING, CampaignState.AWAITING_APPROVAL})
# States in which the letter text may still change (it is what NGOs consent to).
CAMPAIGN_LETTER_EDITABLE = frozenset({CampaignState.DRAFT})


class InvitationState(StrEnum):
    PENDING = "pending"  # created, invitation not yet sent
    INVITED = "invited"  # invitation sent, no answer yet (reminders may follow)
    SIGNED = "signed"
    DECLINED = "declined"
    QUESTION = "question"  # waiting for a lead; no automatic reminders
    UNSUBSCRIBED = "unsubscribed"
    BOUNCED = "bounced"  # permanent failure of this address
    WITHDRAWN = "withdrawn"  # signed, then took it back before the deadline
    REPLACED = "replaced"  # address bounced; another address of the organisation took over


_ANSWERABLE = frozenset(
    {
        InvitationState.SIGNED,
        InvitationState.DECLINED,
        InvitationState.QUESTION,
        InvitationState.UNSUBSCRIBED,
        InvitationState.WITHDRAWN,
    }
)

INVITATION_TRANSITIONS: dict[InvitationState, frozenset[InvitationState]] = {
    InvitationState.PENDING: frozenset(
        {InvitationState.INVITED, InvitationState.BOUNCED, InvitationState.UNSUBSCRIBED}
        | _ANSWERABLE
    ),
    InvitationState.INVITED: frozenset(
        _ANSWERABLE | {InvitationState.BOUNCED, InvitationState.REPLACED}
    ),
    InvitationState.QUESTION: frozenset(_ANSWERABLE - {InvitationState.QUESTION}),
    InvitationState.SIGNED: frozenset(
        {InvitationState.WITHDRAWN, InvitationState.UNSUBSCRIBED, InvitationState.DECLINED}
    ),
    InvitationState.DECLINED: frozenset(
        {InvitationState.SIGNED, InvitationState.UNSUBSCRIBED, InvitationState.QUESTION}
    ),
    InvitationState.WITHDRAWN: frozenset({InvitationState.SIGNED, InvitationState.UNSUBSCRIBED}),
    InvitationState.UNSUBSCRIBED: frozenset(),
    InvitationState.BOUNCED: frozenset({InvitationState.REPLACED}),
    InvitationState.REPLACED: frozenset(),
}

# Reminders only go to invitations in these states.
INVITATION_REMINDABLE = frozenset({InvitationState.INVITED})


class OutboxState(StrEnum):
    QUEUED = "queued"
    SENDING = "sending"  # claimed by a worker under a lease
    SENT = "sent"
    RETRY = "retry"  # temporary failure; next_attempt_at says when
    FAILED = "failed"  # permanent failure (5xx) or attempts exhausted
    HELD = "held"  # needs a person (a final letter found in `sending` after a crash)
    SUPPRESSED = "suppressed"  # recipient unsubscribed/bounced before it went out


OUTBOX_TRANSITIONS: dict[OutboxState, frozenset[OutboxState]] = {
    OutboxState.QUEUED: frozenset({OutboxState.SENDING, OutboxState.SUPPRESSED, OutboxState.HELD}),
    OutboxState.RETRY: frozenset(
        {OutboxState.SENDING, OutboxState.SUPPRESSED, OutboxState.FAILED, OutboxState.HELD}
    ),
    OutboxState.SENDING: frozenset(
        {
            OutboxState.SENT,
            OutboxState.RETRY,
            OutboxState.FAILED,
            OutboxState.HELD,
            OutboxState.SENDING,  # lease expired, re-claimed
        }
    ),
    OutboxState.HELD: frozenset({OutboxState.SENT, OutboxState.QUEUED}),
    OutboxState.FAILED: frozenset({OutboxState.QUEUED}),  # `outreach outbox retry`
    OutboxState.SENT: frozenset(),
    OutboxState.SUPPRESSED: frozenset(),
}

OUTBOX_CLAIMABLE = frozenset({OutboxState.QUEUED, OutboxState.RETRY})


class InboundState(StrEnum):
    STORED = "stored"  # raw bytes saved; processing enqueued
    PROCESSED = "processed"
    REVIEW = "review"  # a person must decide
    DUPLICATE = "duplicate"


INBOUND_TRANSITIONS: dict[InboundState, frozenset[InboundState]] = {
    InboundState.STORED: frozenset(
        {InboundState.PROCESSED, InboundState.REVIEW, InboundState.DUPLICATE}
    ),
    InboundState.REVIEW: frozenset({InboundState.PROCESSED}),  # a person resolved it
    InboundState.PROCESSED: frozenset(),
    InboundState.DUPLICATE: frozenset(),
}


class ReviewState(StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"


REVIEW_TRANSITIONS: dict[ReviewState, frozenset[ReviewState]] = {
    ReviewState.OPEN: frozenset({ReviewState.RESOLVED}),
    ReviewState.RESOLVED: frozenset(),
}


class SignatureState(StrEnum):
    ACTIVE = "active"
    WITHDRAWN = "withdrawn"


SIGNATURE_TRANSITIONS: dict[SignatureState, frozenset[SignatureState]] = {
    SignatureState.ACTIVE: frozenset({SignatureState.WITHDRAWN}),
    SignatureState.WITHDRAWN: frozenset({SignatureState.ACTIVE}),  # signed again
}


class AddressState(StrEnum):
    """Whether mail can reach a contact's address (`Contact.address_state`)."""

    OK = "ok"
    DEFERRED = "deferred"  # a temporary failure; mail still goes (read by nobody yet: a signal)
    BOUNCED = "bounced"  # a permanent failure; no more mail, the next address is invited


ADDRESS_TRANSITIONS: dict[AddressState, frozenset[AddressState]] = {
    AddressState.OK: frozenset({AddressState.DEFERRED, AddressState.BOUNCED}),
    AddressState.DEFERRED: frozenset({AddressState.DEFERRED, AddressState.BOUNCED}),
    AddressState.BOUNCED: frozenset(),
}

# Every state column, its states, and its table of moves: one declaration, read by the CHECK
# constraints (models, migration 0002), the audit replay test and the conditional UPDATEs.
STATE_MACHINES: dict[tuple[str, str], dict[Any, frozenset[Any]]] = {
    ("campaign", "state"): CAMPAIGN_TRANSITIONS,
    ("invitation", "state"): INVITATION_TRANSITIONS,
    ("outbound_message", "state"): OUTBOX_TRANSITIONS,
    ("inbound_message", "state"): INBOUND_TRANSITIONS,
    ("review_item", "state"): REVIEW_TRANSITIONS,
    ("signature", "state"): SIGNATURE_TRANSITIONS,
    ("contact", "address_state"): ADDRESS_TRANSITIONS,
}


def check_sql(column: str, states: type[StrEnum]) -> str:
    """The CHECK constraint's condition: the column holds one of the declared states."""
    return f"{column} IN ({', '.join(repr(s.value) for s in states)})"


class IllegalTransition(ValueError):
    """A state change the transition table does not allow."""


S = TypeVar("S", bound=StrEnum)


def check_transition(table: dict[S, frozenset[S]], current: S, target: S) -> None:
    """Raise IllegalTransition unless `current -> target` is listed in `table`."""
    if target not in table[current]:
        allowed = ", ".join(sorted(s.value for s in table[current])) or "nothing"
        raise IllegalTransition(
            f"cannot move from {current.value!r} to {target.value!r} (allowed: {allowed})"
        )

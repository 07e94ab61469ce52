"""The reply policy: what to do with a matched, verified answer that arrived in time.

A pure table of intent x invitation state x "does it answer our acknowledgement", so the
decision is tested in milliseconds; `worker.actions.process_reply` carries it out. Removal
requests, late answers and unverified senders are decided before this (removal in
`core.withdrawal`, lateness and verification in the action's earlier steps).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from worker.core.classify import Intent
from worker.core.states import InvitationState


class Verb(StrEnum):
    """What the action does."""

    SIGN = "sign"  # record the signature; an unsure name waits for the lead
    SIGN_AGAIN = "sign again"  # an answer to our acknowledgement from one no longer signed
    RENAME = "rename"  # a signatory asks for another listing name
    CONFIRM = "confirm"  # a second yes: nothing changes
    WITHDRAW = "withdraw"  # a signatory takes it back
    DECLINE = "decline"
    QUESTION = "question"  # to the lead, reminders stop
    AUTO_REPLY = "auto-reply"  # maybe delay the next reminder
    BOUNCE = "bounce"  # the one bounce path
    REVIEW = "review"  # a person decides


@dataclass(frozen=True)
class ReplyDecision:
    """The verb, and for REVIEW/QUESTION the reason's opening words (the classifier's reasons
    follow it)."""

    verb: Verb
    reason: str = ""


# Invitations that can no longer be signed through: the address is gone or unsubscribed.
NOT_SIGNABLE = frozenset(
    {InvitationState.UNSUBSCRIBED, InvitationState.BOUNCED, InvitationState.REPLACED}
)


def decide_reply(
    intent: Intent, invitation: InvitationState, *, answers_ack: bool, has_name: bool
) -> ReplyDecision:
    """What to do with an answer (see the module docstring for what was decided before).

    A. An answer to our acknowledgement (or a second answer after signing):
       1. decline: a signatory withdraws, anyone else declines;
       2. yes: a signatory with a new name renames, one no longer signed signs again, else
          nothing changes;
       3. a question goes to the lead; 4. anything else to review.
    B. A first answer to the invitation:
       1. yes signs, unless the invitation is unsubscribed, bounced or replaced (review);
       2. decline, question, auto-reply and bounce each have their verb;
       3. anything else (unclear, a bare unsubscribe) to review.
    """
    signed = invitation is InvitationState.SIGNED
    if answers_ack:
        if intent is Intent.DECLINE:  # A1
            return ReplyDecision(Verb.WITHDRAW if signed else Verb.DECLINE)
        if intent is Intent.SIGN:  # A2
            if has_name and signed:
                return ReplyDecision(Verb.RENAME)
            return ReplyDecision(Verb.CONFIRM if signed else Verb.SIGN_AGAIN)
        if intent is Intent.QUESTION:  # A3
            return ReplyDecision(Verb.QUESTION, "question after signing: ")
        return ReplyDecision(Verb.REVIEW, "reply to acknowledgement, unclear: ")  # A4
    if intent is Intent.SIGN:  # B1
        if invitation in NOT_SIGNABLE:
            return ReplyDecision(Verb.REVIEW, f"sign from an invitation in state {invitation}")
        return ReplyDecision(Verb.SIGN)
    simple = {  # B2
        Intent.DECLINE: Verb.DECLINE,
        Intent.QUESTION: Verb.QUESTION,
        Intent.AUTO_REPLY: Verb.AUTO_REPLY,
        Intent.BOUNCE: Verb.BOUNCE,
    }
    if intent in simple:
        return ReplyDecision(simple[intent])
    return ReplyDecision(Verb.REVIEW, "unclear: ")  # B3

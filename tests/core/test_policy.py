"""The reply policy as a table: intent x invitation state x answers-our-acknowledgement."""

from __future__ import annotations

import itertools

import pytest

from worker.core.classify import Intent
from worker.core.policy import NOT_SIGNABLE, Verb, decide_reply
from worker.core.states import InvitationState as S

I = Intent  # noqa: E741 (short names keep the table readable)

TABLE = [
    # intent, invitation, answers ack, has name -> verb
    (I.SIGN, S.INVITED, False, False, Verb.SIGN),
    (I.SIGN, S.PENDING, False, True, Verb.SIGN),
    (I.SIGN, S.DECLINED, False, False, Verb.SIGN),  # changed its mind
    (I.SIGN, S.UNSUBSCRIBED, False, False, Verb.REVIEW),
    (I.SIGN, S.BOUNCED, False, False, Verb.REVIEW),
    (I.SIGN, S.REPLACED, False, False, Verb.REVIEW),
    (I.DECLINE, S.INVITED, False, False, Verb.DECLINE),
    (I.QUESTION, S.INVITED, False, False, Verb.QUESTION),
    (I.AUTO_REPLY, S.INVITED, False, False, Verb.AUTO_REPLY),
    (I.BOUNCE, S.INVITED, False, False, Verb.BOUNCE),
    (I.UNCLEAR, S.INVITED, False, False, Verb.REVIEW),
    (I.UNSUBSCRIBE, S.INVITED, False, False, Verb.REVIEW),  # removal is decided before
    # answers to our acknowledgement
    (I.SIGN, S.SIGNED, True, True, Verb.RENAME),
    (I.SIGN, S.SIGNED, True, False, Verb.CONFIRM),
    (I.SIGN, S.WITHDRAWN, True, False, Verb.SIGN_AGAIN),
    (I.SIGN, S.WITHDRAWN, True, True, Verb.SIGN_AGAIN),
    (I.DECLINE, S.SIGNED, True, False, Verb.WITHDRAW),
    (I.DECLINE, S.WITHDRAWN, True, False, Verb.DECLINE),
    (I.QUESTION, S.SIGNED, True, False, Verb.QUESTION),
    (I.AUTO_REPLY, S.SIGNED, True, False, Verb.REVIEW),
    (I.UNCLEAR, S.SIGNED, True, False, Verb.REVIEW),
]


@pytest.mark.parametrize(("intent", "state", "ack", "named", "verb"), TABLE)
def test_reply_policy_table(intent: Intent, state: S, ack: bool, named: bool, verb: Verb) -> None:
    assert decide_reply(intent, state, answers_ack=ack, has_name=named).verb is verb


def test_review_reasons_say_why() -> None:
    unclear = decide_reply(I.UNCLEAR, S.INVITED, answers_ack=False, has_name=False)
    assert unclear.reason == "unclear: "
    gone = decide_reply(I.SIGN, S.BOUNCED, answers_ack=False, has_name=False)
    assert gone.reason == "sign from an invitation in state bounced"
    after = decide_reply(I.QUESTION, S.SIGNED, answers_ack=True, has_name=False)
    assert after.reason == "question after signing: "


def test_only_a_yes_ever_signs_and_never_through_a_dead_invitation() -> None:
    for intent, state, ack, named in itertools.product(I, S, (False, True), (False, True)):
        verb = decide_reply(intent, state, answers_ack=ack, has_name=named).verb
        if verb in (Verb.SIGN, Verb.SIGN_AGAIN, Verb.RENAME, Verb.CONFIRM):
            assert intent is I.SIGN, (intent, state, ack)
        if verb is Verb.SIGN:
            assert state not in NOT_SIGNABLE and not ack
        if verb is Verb.WITHDRAW:
            assert state is S.SIGNED

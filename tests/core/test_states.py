"""The transition tables allow exactly the moves the mission needs."""

from __future__ import annotations

import pytest

from worker.core.states import (
    CAMPAIGN_TRANSITIONS,
    INVITATION_TRANSITIONS,
    OUTBOX_TRANSITIONS,
    CampaignState,
    IllegalTransition,
    InvitationState,
    OutboxState,
    check_transition,
)


@pytest.mark.parametrize(
    ("table", "enum"),
    [
        (CAMPAIGN_TRANSITIONS, CampaignState),
        (INVITATION_TRANSITIONS, InvitationState),
        (OUTBOX_TRANSITIONS, OutboxState),
    ],
)
def test_every_state_has_a_row(table: dict, enum: type) -> None:  # type: ignore[type-arg]
    assert set(table) == set(enum)


def test_delivered_campaign_is_final() -> None:
    with pytest.raises(IllegalTransition, match="'delivered' to 'open'"):
        check_transition(CAMPAIGN_TRANSITIONS, CampaignState.DELIVERED, CampaignState.OPEN)


def test_unsubscribed_invitation_never_signs_again() -> None:
    with pytest.raises(IllegalTransition):
        check_transition(
            INVITATION_TRANSITIONS, InvitationState.UNSUBSCRIBED, InvitationState.SIGNED
        )


def test_sent_message_cannot_be_sent_again() -> None:
    with pytest.raises(IllegalTransition):
        check_transition(OUTBOX_TRANSITIONS, OutboxState.SENT, OutboxState.SENDING)


def test_signed_invitation_may_be_withdrawn() -> None:
    check_transition(INVITATION_TRANSITIONS, InvitationState.SIGNED, InvitationState.WITHDRAWN)

"""A run through intake and review, then its audit log replayed against the state tables."""

from __future__ import annotations

from sqlalchemy import func, select
from support.audit_replay import replay

from worker.actions.review import resolve_item
from worker.models import AuditLog, ReviewItem

from .conftest import NOW, World, reply_to
from .test_actions import _dsn


def test_audit_log_of_a_run_replays_against_the_state_tables(world: World) -> None:
    # Green signs, renames, withdraws, signs again; Kyoto asks, the lead resolves it as signed;
    # Forest unsubscribes; a permanent bounce on Kyoto's address; a spoofed "yes" is declined.
    start = world.session.scalar(select(func.max(AuditLog.id))) or 0
    green = world.sent("info@green.example")
    world.receive(reply_to(green.raw or b"", "Yes, we sign!", sender="info@green.example"))
    ack = world.sent("info@green.example", "acknowledgement")
    for body in (
        "Yes, we sign. Please list us as: Green Action Japan (GAJ)",
        "We withdraw our signature, please remove our name.",
        "Sorry for the confusion: yes, we sign after all.",
    ):
        world.receive(reply_to(ack.raw or b"", body, sender="info@green.example"))
    kyoto = world.sent("office@kyoto-peace.example")
    world.receive(
        reply_to(kyoto.raw or b"", "Who else has signed?", sender="office@kyoto-peace.example")
    )
    forest = world.sent("forestwatch@gmail.com")
    world.receive(
        reply_to(
            forest.raw or b"",
            "Please remove us from your mailing list.",
            sender=forest.recipients[0],
        )
    )
    world.receive(reply_to(green.raw or b"", "Yes, we sign!", sender="attacker@evil.example"))
    for item in world.session.scalars(select(ReviewItem).where(ReviewItem.state == "open")):
        outcome = "sign" if item.invitation_id else "decline"
        if item.invitation_id is None:
            outcome = "ignore"
        resolve_item(
            world.session, item, outcome=outcome, name=None, by="lead", invitation_id=None,
            note=None, secret=world.secret, now=NOW,
        )  # fmt: skip
    world.session.commit()
    world.receive(_dsn(kyoto.envelope_from, "office@kyoto-peace.example", "5.1.1", "failed"))

    checked, problems = replay(world.session, after_id=start)
    assert problems == [], "\n".join(problems)
    assert checked >= 8  # the run moved invitations, signatures and review items


def test_replay_names_a_move_the_table_forbids(world: World) -> None:
    from worker.actions import audit
    from worker.core.audit_actions import AuditAction

    start = world.session.scalar(select(func.max(AuditLog.id))) or 0
    invitation = world.invitation("info@green.example")
    audit.record(
        world.session, actor="test", entity="invitation", entity_id=invitation.id,
        action=AuditAction.UNSUBSCRIBED, from_state="invited", to_state="unsubscribed",
    )  # fmt: skip
    # audit.record refuses an action that is not an AuditAction: the forged row goes in directly
    world.session.add(
        AuditLog(
            actor="test", entity="invitation", entity_id=invitation.id,
            action="revived", from_state="unsubscribed", to_state="invited",
        )
    )  # fmt: skip
    world.session.flush()
    _, problems = replay(world.session, after_id=start)
    assert any("'unsubscribed' -> 'invited' is not in the table" in p for p in problems)
    assert any("unknown action 'revived'" in p for p in problems)


def test_an_action_that_is_not_an_audit_action_is_refused(world: World) -> None:
    import pytest

    from worker.actions import audit

    invitation = world.invitation("info@green.example")
    with pytest.raises(ValueError, match="revived"):
        audit.record(
            world.session, actor="test", entity="invitation", entity_id=invitation.id,
            action="revived",
        )  # fmt: skip
    with pytest.raises(ValueError, match="revived"):
        audit.record_many(
            world.session,
            [{"actor": "test", "entity": "invitation", "entity_id": invitation.id,
              "action": "revived"}],
        )  # fmt: skip


def test_a_conditional_update_checks_its_move_before_any_sql(world: World) -> None:
    import pytest

    from worker.actions.audit import move_where
    from worker.core.states import CAMPAIGN_TRANSITIONS, CampaignState, IllegalTransition
    from worker.models import Campaign

    with pytest.raises(IllegalTransition):
        move_where(
            world.session, Campaign, CAMPAIGN_TRANSITIONS,
            (CampaignState.OPEN, CampaignState.DELIVERED), CampaignState.CLOSING,
        )  # fmt: skip
    moved = move_where(
        world.session, Campaign, CAMPAIGN_TRANSITIONS, (CampaignState.OPEN,),
        CampaignState.PAUSED, Campaign.id == world.campaign.id,
    )  # fmt: skip
    again = move_where(
        world.session, Campaign, CAMPAIGN_TRANSITIONS, (CampaignState.OPEN,),
        CampaignState.PAUSED, Campaign.id == world.campaign.id,
    )  # fmt: skip
    assert (moved, again) == (1, 0)  # the second finds the row moved already

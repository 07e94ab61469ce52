"""Carry out a removal request: off the letter, off the mailing, or both, as core decided.

The decision (what comes off, and when a person must confirm) is `core.withdrawal.plan_removal`;
this module only applies it with the verbs intake and review share.
"""

from __future__ import annotations

from worker.actions.consent import active_signature, decline, withdraw
from worker.actions.reply_context import Context
from worker.actions.review import LETTER_FIXED
from worker.actions.suppression import unsubscribe
from worker.core.classify import Classification
from worker.core.states import CampaignState
from worker.core.withdrawal import Removal, RemovalRequest, plan_removal


def carry_out_removal(
    ctx: Context, result: Classification, decided_by: str, *, late: bool = False
) -> tuple[str, str | None]:
    """Apply the removal plan; returns (action summary, review reason or None).

    1. Ask core for the plan, knowing whether the organisation has a signature that counts.
    2. Withdraw it when the plan says so (an unsigned organisation asking off the letter
       declines instead).
    3. Unsubscribe the address when the plan says so.
    4. A late request (after the deadline) always goes before a person as well: the
       signatory list may already be in a letter awaiting approval. Once the letter is being
       delivered (or the campaign is over) the signature is history: it is not changed.
    """
    assert result.removal is not None
    evidence = "; ".join(result.reasons)
    # 1.
    fixed = CampaignState(ctx.campaign.state) in LETTER_FIXED
    signature = None if fixed else active_signature(
        ctx.session, ctx.campaign.id, ctx.invitation.organisation_id
    )
    plan = plan_removal(
        RemovalRequest(Removal(result.removal), evidence, result.keeps_signature),
        has_signature=signature is not None,
    )
    done: list[str] = []
    # 2.
    if plan.withdraw:
        withdraw(ctx, decided_by=decided_by)
        done.append("withdrawn")
    elif result.removal is Removal.LETTER and not fixed:
        done.append(decline(ctx, decided_by=decided_by))
    elif signature is not None:
        done.append("signature kept (the message says so)")
    # 3.
    if plan.unsubscribe:
        unsubscribe(ctx, decided_by=decided_by)
        done.append("unsubscribed")
    review = plan.review
    # 4.
    if late:
        when = "after the letter went out" if fixed else "after the deadline"
        review = f"removal request {when} ({', '.join(done) or 'nothing changed'}): " \
            f"{review or evidence}"
    return " + ".join(done) or "nothing to remove", review

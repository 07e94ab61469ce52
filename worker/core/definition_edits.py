"""Which parts of a stored campaign definition may still change in a given campaign state."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from worker.core.states import (
    CAMPAIGN_LETTER_EDITABLE,
    CAMPAIGN_SCHEDULE_EDITABLE,
    CampaignState,
)

# Until the final letter is being delivered, who receives it and who coordinates may change.
_DELIVERY_EDITABLE = frozenset(
    {
        CampaignState.DRAFT,
        CampaignState.OPEN,
        CampaignState.PAUSED,
        CampaignState.CLOSING,
        CampaignState.AWAITING_APPROVAL,
    }
)
_DRAFT_ONLY = frozenset({CampaignState.DRAFT})

# Each editable part of the definition (a dotted path into its JSON form), the states in which it
# may change, and why it is frozen afterwards. Listed once, checked in one place.
_RULES: list[tuple[str, frozenset[CampaignState], str]] = [
    ("letter_text", CAMPAIGN_LETTER_EDITABLE, "organisations consented to the text as it was"),
    ("letter", frozenset(CampaignState), "file names alone never matter"),
    ("languages", _DRAFT_ONLY, "invitations were already written in the languages as they were"),
    ("sender", _DRAFT_ONLY, "replies are already addressed to the sender as it was"),
    ("title", CAMPAIGN_SCHEDULE_EDITABLE, "the title was sent to organisations"),
    ("timezone", CAMPAIGN_SCHEDULE_EDITABLE, "the schedule has run in the timezone as it was"),
    ("schedule.invite_at", CAMPAIGN_SCHEDULE_EDITABLE, "the schedule has run"),
    ("schedule.deadline", CAMPAIGN_SCHEDULE_EDITABLE, "the signatory list is already frozen"),
    ("schedule.reminders_before_deadline", CAMPAIGN_SCHEDULE_EDITABLE, "the schedule has run"),
    ("schedule.quiet_hours", CAMPAIGN_SCHEDULE_EDITABLE, "the schedule has run"),
    ("max_reminders", CAMPAIGN_SCHEDULE_EDITABLE, "the schedule has run"),
    ("coordinators", _DELIVERY_EDITABLE, "the final letter has gone to the ministry"),
    ("ministry", _DELIVERY_EDITABLE, "the final letter has gone to the ministry"),
    ("requires_approval", _DELIVERY_EDITABLE, "the final letter has gone to the ministry"),
]


@dataclass(frozen=True)
class Refusal:
    """A change that the campaign's state no longer allows."""

    path: str
    message: str


def _get(data: dict[str, Any], dotted: str) -> Any:
    value: Any = data
    for part in dotted.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def changed_paths(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """The rule paths whose values differ between two stored definitions, in rule order.

    A top-level key that no rule names (e.g. a field added to the schema later) is reported under
    its own name, so no difference goes unnoticed.
    """
    paths = [path for path, _, _ in _RULES if _get(old, path) != _get(new, path)]
    covered = {path.split(".")[0] for path, _, _ in _RULES}
    for key in sorted(set(old) | set(new)):
        if key not in covered and old.get(key) != new.get(key):
            paths.append(key)
    return paths


def refusals(state: CampaignState, paths: list[str], slug: str) -> list[Refusal]:
    """The changes among `paths` that `state` forbids, each with a message saying what to do."""
    rules = {path: (allowed, why) for path, allowed, why in _RULES}
    found: list[Refusal] = []
    for path in paths:
        allowed, why = rules.get(path, (frozenset(), "the campaign identity cannot change"))
        if state in allowed:
            continue
        states = ", ".join(s.value for s in CampaignState if s in allowed) or "no state"
        found.append(
            Refusal(
                path,
                f"cannot change {path}: campaign {slug} is {state.value} and {why} "
                f"(it may change only while {states}); restore the value in the file, "
                "or define a new campaign with another slug",
            )
        )
    return found

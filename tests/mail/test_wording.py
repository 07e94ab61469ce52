"""Wording that follows the campaign: the verb and noun agree with the number of coordinators,
and each language keeps one spelling ("organisation" in English, everywhere)."""

from __future__ import annotations

import re
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from worker.mail.outgoing import prepare_contact_email
from worker.models import Campaign, Invitation

from .conftest import NOW, SECRET

REPO = Path(__file__).resolve().parents[2]


def _text(campaign: Campaign, invitation: Invitation) -> str:
    prepared = prepare_contact_email(campaign, invitation, "invitation", 0, secret=SECRET, now=NOW)
    msg = message_from_bytes(prepared.raw, policy=policy.default)
    assert isinstance(msg, EmailMessage)
    body = msg.get_body(("plain",))
    assert body is not None
    return " ".join(str(body.get_content()).split())


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (["Human Rights Now"], "Human Rights Now invites Human Rights Watch"),
        (["Human Rights Now", "JVC"], "Human Rights Now and JVC invite Human Rights Watch"),
        (["Human Rights Now", "JVC", "WAM"],
         "Human Rights Now, JVC and WAM invite Human Rights Watch"),
    ],
)
def test_the_invitation_verb_agrees_with_the_number_of_coordinators(
    session: Session,
    campaign: Campaign,
    en_invitation: Invitation,
    names: list[str],
    expected: str,
) -> None:
    definition = dict(campaign.definition)
    definition["coordinators"] = [{"name": {"en": n}, "lead": i == 0} for i, n in enumerate(names)]
    campaign.definition = definition
    assert expected in _text(campaign, en_invitation)


def test_english_text_spells_organisation_one_way() -> None:
    """British spelling, as the README, the CLI and the data model: no "organization"."""
    files = [*(REPO / "templates").rglob("*/en/*"), *(REPO / "templates" / "letter").rglob("*"),
             REPO / "worker" / "actions" / "letter.py"]  # fmt: skip
    offenders = [
        f"{path.relative_to(REPO)}:{n}"
        for path in files if path.is_file()
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if re.search(r"\borgani[z]ation", line, re.I)
    ]  # fmt: skip
    assert not offenders, offenders

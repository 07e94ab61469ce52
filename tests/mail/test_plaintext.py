"""The text/plain part shows the letter as text, not as Markdown source."""

from __future__ import annotations

from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.orm import Session

from worker.mail.outgoing import prepare_contact_email
from worker.mail.plaintext import markdown_to_text
from worker.models import Campaign, Invitation

from .conftest import NOW, SECRET

REPO = Path(__file__).resolve().parents[2]


def test_markdown_structure_becomes_plain_text() -> None:
    text = markdown_to_text(
        "# Title\n\nWe urge *Japan* to **act** [now](https://icc.example).  \nNext line.\n\n"
        "- one\n- two\n\n1. first\n2. second\n\n> quoted\n\nAfter.\n"
    )
    assert text == (
        "Title\n=====\n\nWe urge Japan to act now <https://icc.example>.\nNext line.\n\n"
        "- one\n- two\n\n1. first\n2. second\n\n> quoted\n\nAfter.\n"
    )


def test_the_seed_letters_read_as_text_in_both_languages() -> None:
    for lang in ("en", "ja"):
        source = (REPO / f"config/campaigns/icc-2024.letter.{lang}.md").read_text("utf-8")
        text = markdown_to_text(source)
        assert "##" not in text and "  \n" not in text and not any(
            line != line.rstrip() for line in text.splitlines()
        )
    en = markdown_to_text((REPO / "config/campaigns/icc-2024.letter.en.md").read_text("utf-8"))
    assert "Ms. Yoko Kamikawa\nMinister for Foreign Affairs\n" in en  # address lines kept


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=200))
def test_any_markdown_renders_without_trailing_spaces(source: str) -> None:
    text = markdown_to_text(source)
    assert all(line == line.rstrip() for line in text.splitlines())


def test_the_invitation_text_part_has_no_markdown_syntax(
    session: Session, campaign: Campaign, en_invitation: Invitation
) -> None:
    prepared = prepare_contact_email(campaign, en_invitation, "invitation", 0, secret=SECRET,
                                     now=NOW)  # fmt: skip
    msg = message_from_bytes(prepared.raw, policy=policy.default)
    assert isinstance(msg, EmailMessage)
    plain = msg.get_body(("plain",))
    assert plain is not None
    body = str(plain.get_content()).replace("\r\n", "\n")
    assert "# Joint letter" not in body and "*protect*" not in body
    assert "Joint letter\n============" in body and "protect the court" in body

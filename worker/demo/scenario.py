"""The demo's cast: who answers what, the texts they write, and what a run reports."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass, field
from email.message import EmailMessage
from enum import StrEnum
from pathlib import Path
from typing import Any

SLUG = "icc-2024"
CAMPAIGN_FILE = f"{SLUG}.yaml"
CONTACTS_FILE = f"{SLUG}.contacts.csv"
PYTHON_CLI = [sys.executable, "-c", "from worker.cli import main; main()"]


class Scenario(StrEnum):
    SIGN = "sign"
    SIGN_NAMED = "sign with a requested name"
    DECLINE = "decline"
    QUESTION = "question"
    OUT_OF_OFFICE = "out of office"
    BOUNCE = "bounce"
    SILENT = "never answers"


# Who answers what (by invited address); every other invited address signs.
SCENARIOS: dict[str, Scenario] = {
    "office@iraq-inquiry.example": Scenario.DECLINE,
    "hello@space-allies.example": Scenario.QUESTION,
    "info@osaka-ywca.example": Scenario.OUT_OF_OFFICE,
    "info@ngo-jvc.example": Scenario.BOUNCE,  # JVC's second address then gets the invitation
    "kansai-gaza@mail.example": Scenario.SILENT,
    "stop-militarization@mail.example": Scenario.SIGN_NAMED,
}
REQUESTED_NAME = "Action for Stop Militarization (Japan)"
# These reply in ISO-2022-JP, as many Japanese mail clients still do.
ISO_2022_JP = {"info@wam.example", "info@jocs.example"}

SIGN_TEXT = {
    "en": "Yes, we sign.\n\nBest regards,\n{person}",
    "ja": "お世話になっております。\n\n当団体として賛同します。\n"
    "よろしくお願いいたします。\n\n{person}",
}
SIGN_NAMED_TEXT = (
    "Yes, we sign. Please list us as: {name}\n\nThank you for coordinating this.\n{person}"
)
DECLINE_TEXT = {
    "en": "Thank you for the invitation. Unfortunately we cannot sign this letter.\n\n{person}",
    "ja": "ご連絡ありがとうございます。\n\n"
    "誠に申し訳ありませんが、今回は賛同を見送らせていただきます。\n\n{person}",
}
QUESTION_TEXT = {
    "en": "Before we decide: could you tell us which other organisations have signed so far?\n"
    "Will the letter be published?\n\n{person}",
    "ja": "検討にあたり質問です。現時点でどの団体が賛同していますか？\n"
    "書簡は公開されますか？\n\n{person}",
}
OUT_OF_OFFICE_TEXT = {
    "en": "I am out of the office with limited access to email. I will reply when I am back.",
    "ja": "ただいま不在にしております。戻り次第ご連絡いたします。",
}


@dataclass
class Options:
    root: Path
    invite_in: float = 3.0  # seconds from the start of the run
    reminder_at: float = 60.0  # the reminder round falls due this long after the start
    deadline_at: float = 85.0  # the deadline, after the start
    timeout: float = 300.0  # give up (and say what is missing) after this long
    concurrency: int = 2
    quiet: bool = False  # no live display (tests, logs)


@dataclass
class Captured:
    path: Path
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage


@dataclass
class Row:
    organisation: str
    language: str
    address: str
    scenario: str
    outcome: str
    reminded: int


@dataclass
class Result:
    root: Path
    seconds: float
    rows: list[Row]
    expected_signers: list[str]  # organisation keys that signed in the simulation
    signed: list[str]  # organisation keys with an active signature in the database
    requested_name: str
    requested_name_key: str
    final_letters: list[Path]  # captured emails to the ministry
    pdfs: list[Path]
    notices: list[Path]
    mail_dir: Path
    replies_dir: Path
    campaign_state: str
    counts: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        return json.loads(json.dumps(data, default=str))  # type: ignore[no-any-return]


class DemoFailed(RuntimeError):
    """The demo did not reach its end; the message says where it stopped and where to look."""

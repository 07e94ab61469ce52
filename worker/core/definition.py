"""The campaign definition file (YAML) as a validated value: what a campaign lead writes."""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    EmailStr,
    Field,
    field_validator,
    model_validator,
)

from worker.core.durations import parse_duration
from worker.core.untrusted import control_problem

Language = Literal["en", "ja"]
# "12 hours", "1 week", "PT12H", "12:00": see worker/core/durations.py for every accepted form.
Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
QUIET_HOURS_OFF = ("off", "none", "no")
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{1,98}[a-z0-9]$")


def _single_line(value: str) -> str:
    """Names end up in mail headers: a CR or LF there is header injection."""
    if "\r" in value or "\n" in value:
        raise ValueError("must be a single line (contains a line break)")
    why = control_problem(value.strip(" \t"))
    if why is not None:
        raise ValueError(why)
    return value.strip()


Line = Annotated[str, AfterValidator(_single_line)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LocalisedName(Strict):
    en: Line | None = None
    ja: Line | None = None
    reading: Line | None = None  # kana reading of `ja`, for gojūon order

    @model_validator(mode="after")
    def _has_a_name(self) -> LocalisedName:
        if not (self.en or self.ja):
            raise ValueError("give at least one of `en` or `ja`")
        return self


class Coordinator(Strict):
    name: LocalisedName
    email: EmailStr | None = None
    lead: bool = False  # receives forwarded questions and reports


class Person(Strict):
    name: LocalisedName
    title: LocalisedName | None = None
    postal_address: dict[Language, str] = Field(default_factory=dict)
    email: EmailStr


class Ministry(Strict):
    recipient: Person
    cc: list[EmailStr] = Field(default_factory=list)


class Sender(Strict):
    name: LocalisedName
    address: EmailStr  # From:
    reply_local_part: Line = "signon"  # replies go to <local>+TOKEN@<reply_domain>
    reply_domain: Line
    # Return-Path <local>+bounce-TOKEN@<reply_domain>: by default the reply mailbox itself;
    # set it only when an MTA routes a separate bounce mailbox that is polled too.
    bounce_local_part: Line | None = None
    lead_email: EmailStr  # where questions, bounces and review items are forwarded


class QuietHours(Strict):
    start: time = time(21, 0)
    end: time = time(8, 0)

    @field_validator("start", "end", mode="before")
    @classmethod
    def _quoted(cls, value: object) -> object:
        # YAML 1.1 reads an unquoted 21:00 as the number 1260 (base 60): refuse, don't guess.
        if isinstance(value, int | float) and not isinstance(value, bool):
            raise ValueError(
                'write the time in quotes, e.g. "21:00" (unquoted, YAML reads a number)'
            )
        return value


class Schedule(Strict):
    invite_at: datetime
    deadline: datetime
    reminders_before_deadline: list[Duration] = Field(
        default_factory=lambda: [timedelta(days=3), timedelta(days=1)]
    )
    # No mail to NGOs in these hours of their own clock; `quiet_hours: off` sends at any hour.
    quiet_hours: QuietHours | None = QuietHours()
    # Never remind sooner than this after the invitation or the previous reminder.
    min_reminder_gap: Duration = timedelta(hours=20)

    @field_validator("quiet_hours", mode="before")
    @classmethod
    def _off(cls, value: object) -> object:
        # YAML 1.1 reads an unquoted `off` as False: both mean "no quiet hours".
        if value is False or value is None:
            return None
        if isinstance(value, str):
            if value.strip().lower() in QUIET_HOURS_OFF:
                return None
            raise ValueError(
                'write `quiet_hours: off`, or start and end on their own lines: '
                'start: "21:00" and end: "08:00"'
            )
        return value

    @field_validator("invite_at", "deadline")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError(
                "needs a UTC offset, e.g. 2024-05-29T17:00:00+09:00 "
                "(a time without one is ambiguous)"
            )
        return value

    @model_validator(mode="after")
    def _order(self) -> Schedule:
        if self.deadline <= self.invite_at:
            raise ValueError(
                f"deadline {self.deadline.isoformat()} is not after invite_at "
                f"{self.invite_at.isoformat()}; move the deadline later or invite earlier"
            )
        for offset in self.reminders_before_deadline:
            if offset <= timedelta(0):
                raise ValueError("reminders_before_deadline: offsets must be positive durations")
        return self


class CampaignDefinition(Strict):
    slug: str
    title: dict[Language, Line]
    languages: list[Language] = Field(min_length=1)
    timezone: str
    letter: dict[Language, str]  # Markdown file names, relative to the definition file
    coordinators: list[Coordinator] = Field(min_length=1)
    ministry: Ministry
    sender: Sender
    schedule: Schedule
    requires_approval: bool = True
    # An unsigned reply (no DKIM by the sender's domain) from the right address and token:
    # "accept" acts on it and marks the evidence "unauthenticated"; "review" asks a person.
    unauthenticated_replies: Literal["accept", "review"] = "accept"
    max_reminders: int = Field(default=2, ge=0, le=10)

    @field_validator("slug")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not _SLUG.match(value):
            raise ValueError("use 3-100 lowercase letters, digits and dashes, e.g. icc-2024")
        return value

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown timezone {value!r}; use an IANA name such as Asia/Tokyo"
            ) from None
        return value

    @model_validator(mode="after")
    def _languages_covered(self) -> CampaignDefinition:
        for lang in self.languages:
            if lang not in self.letter:
                raise ValueError(f"letter: no file for language {lang!r}")
            if lang not in self.title:
                raise ValueError(f"title: no title for language {lang!r}")
        return self

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

"""Durations as leads write them; an unreadable one says every accepted form."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from worker.core.durations import ACCEPTED_FORMS, DurationError, describe, parse_duration


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("12h", timedelta(hours=12)),
        ("12 hours", timedelta(hours=12)),
        ("2 minutes", timedelta(minutes=2)),
        ("1 week", timedelta(weeks=1)),
        ("3 days", timedelta(days=3)),
        ("1 day 12 hours", timedelta(days=1, hours=12)),
        ("1 day, 12 hours", timedelta(days=1, hours=12)),
        ("90 s", timedelta(seconds=90)),
        ("PT12H", timedelta(hours=12)),
        ("P3D", timedelta(days=3)),
        ("P1W", timedelta(weeks=1)),
        ("P1DT12H30M", timedelta(days=1, hours=12, minutes=30)),
        ("PT20S", timedelta(seconds=20)),
        ("12:00", timedelta(hours=12)),
        ("0:02:00", timedelta(minutes=2)),
        ("36:00:00", timedelta(hours=36)),
    ],
)
def test_every_documented_form_is_read(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("bad", ["12 hourz", "twelve hours", "12", 12, 1.5, "", "P", "PT", "1:2"])
def test_an_unreadable_duration_lists_the_accepted_forms(bad: object) -> None:
    with pytest.raises(DurationError) as caught:
        parse_duration(bad)
    assert ACCEPTED_FORMS in str(caught.value)


def test_the_definition_error_names_the_field_and_the_forms(tmp_path: object) -> None:
    from pydantic import ValidationError

    from worker.core.definition import Schedule

    with pytest.raises(ValidationError) as caught:
        Schedule.model_validate({
            "invite_at": "2024-05-21T10:00:00+09:00", "deadline": "2024-05-29T17:00:00+09:00",
            "reminders_before_deadline": ["12 hours", "1 fortnight"],
        })  # fmt: skip
    (error,) = caught.value.errors()
    assert error["loc"] == ("reminders_before_deadline", 1)
    assert '"12 hours"' in error["msg"] and "ISO 8601" in error["msg"]


@given(st.timedeltas(min_value=timedelta(seconds=1), max_value=timedelta(days=400)))
def test_describe_reads_back_to_the_same_duration(delta: timedelta) -> None:
    delta = timedelta(seconds=int(delta.total_seconds()))
    assert parse_duration(describe(delta)) == delta


def test_stored_iso_form_round_trips_through_pydantic() -> None:
    from pydantic import TypeAdapter

    for delta in (timedelta(days=3), timedelta(hours=20), timedelta(seconds=20)):
        assert parse_duration(TypeAdapter(timedelta).dump_python(delta, mode="json")) == delta


def test_a_seconds_setting_takes_a_duration_with_its_unit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pydantic import ValidationError

    from worker.settings import Settings

    monkeypatch.setenv("OUTREACH_OUTBOX_RETRY_WINDOW_SECONDS", "3 days")
    monkeypatch.setenv("OUTREACH_IMAP_POLL_SECONDS", "45")
    monkeypatch.setenv("OUTREACH_BEAT_STALE_SECONDS", "PT2M")
    settings = Settings()
    assert settings.outbox_retry_window_seconds == 3 * 86400
    assert (settings.imap_poll_seconds, settings.beat_stale_seconds) == (45, 120)
    monkeypatch.setenv("OUTREACH_BEAT_STALE_SECONDS", "2 minutez")
    with pytest.raises(ValidationError, match="OUTREACH_BEAT_STALE_SECONDS: '2 minutez'"):
        Settings()

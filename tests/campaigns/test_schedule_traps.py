"""The scheduling traps, through the real `outreach` command: a start inside quiet hours with a
near deadline is refused with the computed times and what to change; a reminder that cannot
happen is reported by `campaign check` and shown by `campaign show`; a past deadline is refused
by `check`."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml

Run = Callable[..., "Ran"]
sqlite_only = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


@dataclass
class Ran:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def outreach(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Run:
    """The real `outreach` command, in-process (a subprocess per call costs seconds here)."""
    from worker.cli import main

    monkeypatch.setenv("COLUMNS", "200")

    def run(*args: str) -> Ran:
        capsys.readouterr()
        monkeypatch.setattr(sys, "argv", ["outreach", *args])
        try:
            main()
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
        out, err = capsys.readouterr()
        return Ran(code, out, err)

    return run


def _zone_where_it_is(hour: int, now: datetime) -> str:
    """An Etc/GMT zone whose local time is `hour`:MM right now (the issue's 03:39 JST)."""
    offset = (hour - now.hour) % 24
    if offset > 14:
        offset -= 24
    return f"Etc/GMT{-offset:+d}" if offset else "UTC"


def _write(campaign_dir: Path, **schedule: Any) -> Path:
    path = campaign_dir / "icc-2024.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    timezone = schedule.pop("timezone", None)
    if timezone:
        data["timezone"] = timezone
    for key, value in schedule.items():
        if value is None:
            data["schedule"].pop(key, None)
        else:
            data["schedule"][key] = value.isoformat() if isinstance(value, datetime) else value
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def _setup(outreach: Run, campaign_dir: Path, **schedule: Any) -> Path:
    path = _write(campaign_dir, **schedule)
    assert outreach("db", "upgrade").returncode == 0
    loaded = outreach("campaign", "load", str(path))
    assert loaded.returncode == 0, loaded.stdout + loaded.stderr
    csv = campaign_dir / "icc-2024.contacts.csv"
    rows = csv.read_text(encoding="utf-8").splitlines(keepends=True)
    csv.write_text("".join(rows[:4]), encoding="utf-8")  # three organisations, as in the issue
    imported = outreach("contacts", "import", "icc-2024", str(csv))
    assert imported.returncode == 0, imported.stdout + imported.stderr
    return path


@sqlite_only
def test_a_start_inside_quiet_hours_with_a_near_deadline_is_refused_with_times_and_fixes(
    outreach: Run, campaign_dir: Path
) -> None:
    now = datetime.now(UTC)
    zone = _zone_where_it_is(3, now)  # 03:xx local: inside 21:00-08:00
    path = _setup(
        outreach, campaign_dir, timezone=zone,
        invite_at=now - timedelta(minutes=1), deadline=now + timedelta(minutes=11),
        reminders_before_deadline=["5 minutes"],
        quiet_hours={"start": "21:00", "end": "08:00"},
    )  # fmt: skip
    local = now.astimezone(ZoneInfo(zone))
    eight = local.replace(hour=8, minute=0).strftime("%Y-%m-%d 08:00")

    # 1. `campaign check` lists the trap (exit 2), as `start` will.
    checked = outreach("campaign", "check", "icc-2024")
    text = " ".join((checked.stdout + checked.stderr).split())
    assert checked.returncode == 2, text
    assert "invitation cannot go before the deadline" in text
    assert f"the earliest it may go is {eight}" in text

    # 2. `campaign start` refuses, prints the computed times and what to change; still a draft.
    started = outreach("campaign", "start", "icc-2024")
    text = " ".join((started.stdout + started.stderr).split())
    assert started.returncode != 0, text
    assert "was not started (it stays a draft)" in text
    assert "invitation: NEVER (cannot go before the deadline)" in text
    assert "3 recipients: the invitation cannot go before the deadline" in text
    for fix in ("move schedule.deadline after", "`quiet_hours: off`", "schedule.invite_at"):
        assert fix in text
    listed = outreach("campaign", "list")
    assert "draft" in listed.stdout and "open" not in listed.stdout

    # 3. Following the advice (quiet hours off; the 5-minute reminder, which a 20-hour gap
    #    rules out, dropped) makes it start, announcing the real times.
    _write(campaign_dir, quiet_hours="off", reminders_before_deadline=[])
    assert outreach("campaign", "load", str(path)).returncode == 0
    started = outreach("campaign", "start", "icc-2024")
    assert started.returncode == 0, started.stdout + started.stderr
    assert "3 recipients: invitation: " in started.stdout
    assert "NEVER" not in started.stdout


@sqlite_only
def test_check_and_show_report_a_reminder_that_cannot_happen(
    outreach: Run, campaign_dir: Path
) -> None:
    now = datetime.now(UTC)
    _setup(
        outreach, campaign_dir, timezone="Asia/Tokyo",
        invite_at=now + timedelta(minutes=5), deadline=now + timedelta(hours=5),
        reminders_before_deadline=["3 hours", "1 hour"], quiet_hours="off",
    )  # fmt: skip
    checked = outreach("campaign", "check", "icc-2024")
    text = " ".join((checked.stdout + checked.stderr).split())
    assert checked.returncode == 2, text
    assert "the reminder 1 cannot go before the deadline" in text
    assert "(min_reminder_gap)" in text
    assert "shorten schedule.min_reminder_gap (now 20 hours)" in text
    assert "the reminder 2 cannot happen: the reminder 1 never goes" in text
    shown = outreach("campaign", "show", "icc-2024")
    out = " ".join(shown.stdout.split())
    assert shown.returncode == 0, shown.stderr
    assert "reminder 1: NEVER" in out and "WARNING" in out
    assert "quiet hours off (mail may go at any hour)" in out


@sqlite_only
def test_a_past_deadline_is_refused_by_check(outreach: Run, campaign_dir: Path) -> None:
    now = datetime.now(UTC)
    _setup(
        outreach, campaign_dir, invite_at=now - timedelta(days=3),
        deadline=now - timedelta(hours=1), quiet_hours="off",
    )  # fmt: skip
    loaded = outreach("campaign", "load", str(campaign_dir / "icc-2024.yaml"))
    assert "WARNING: its deadline" in loaded.stderr and "has passed" in loaded.stderr
    checked = outreach("campaign", "check", "icc-2024")
    text = " ".join((checked.stdout + checked.stderr).split())
    assert checked.returncode == 2, text
    assert "has passed; move it later and load the file again" in text

"""Durations as people write them ("12 hours", "1 week", "PT12H", "1:30:00") read one way."""

from __future__ import annotations

import re
from datetime import timedelta

ACCEPTED_FORMS = (
    'a number and a unit: "12h", "12 hours", "2 minutes", "90 s", "3 days", "1 week" '
    '(several may follow each other: "1 day 12 hours"); '
    'ISO 8601: "PT12H", "P3D", "P1W", "P1DT12H"; '
    'or hours:minutes[:seconds]: "12:00", "0:02:00"'
)

_UNITS: dict[str, timedelta] = {}
for _names, _unit in (
    (("s", "sec", "secs", "second", "seconds"), timedelta(seconds=1)),
    (("m", "min", "mins", "minute", "minutes"), timedelta(minutes=1)),
    (("h", "hr", "hrs", "hour", "hours"), timedelta(hours=1)),
    (("d", "day", "days"), timedelta(days=1)),
    (("w", "wk", "wks", "week", "weeks"), timedelta(weeks=1)),
):
    for _name in _names:
        _UNITS[_name] = _unit

_PART = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([a-z]+)\s*,?", re.IGNORECASE)
_ISO = re.compile(
    r"^P(?!$)(?:(?P<w>\d+(?:\.\d+)?)W)?(?:(?P<d>\d+(?:\.\d+)?)D)?"
    r"(?:T(?=\d)(?:(?P<h>\d+(?:\.\d+)?)H)?(?:(?P<m>\d+(?:\.\d+)?)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?$",
    re.IGNORECASE,
)
_CLOCK = re.compile(r"^(\d+):([0-5]\d)(?::([0-5]\d(?:\.\d+)?))?$")


class DurationError(ValueError):
    """A duration that cannot be read; the message lists what is accepted."""


def parse_duration(value: object) -> timedelta:
    """Read a duration; a bare number is refused (seconds? hours? days? nobody knows)."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool | int | float):
        raise DurationError(f"{value!r} has no unit; write it as {ACCEPTED_FORMS}")
    if not isinstance(value, str):
        raise DurationError(f"{value!r} is not a duration; write it as {ACCEPTED_FORMS}")
    text = value.strip()
    if not text:
        raise DurationError(f"empty duration; write it as {ACCEPTED_FORMS}")
    # 1. ISO 8601 (also what the stored definition holds: pydantic writes "P3D", "PT12H")
    iso = _ISO.match(text)
    if iso:
        parts = {k: float(v) for k, v in iso.groupdict().items() if v is not None}
        return timedelta(
            weeks=parts.get("w", 0),
            days=parts.get("d", 0),
            hours=parts.get("h", 0),
            minutes=parts.get("m", 0),
            seconds=parts.get("s", 0),
        )
    # 2. H:MM[:SS]
    clock = _CLOCK.match(text)
    if clock:
        hours, minutes, seconds = clock.groups()
        return timedelta(hours=int(hours), minutes=int(minutes), seconds=float(seconds or 0))
    # 3. "12 hours", "12h", "1 day 12 hours", "1 day, 12 hours"
    total = timedelta(0)
    position = 0
    for match in _PART.finditer(text):
        if match.start() != position:
            break
        unit = _UNITS.get(match.group(2).lower())
        if unit is None:
            raise DurationError(
                f"{value!r}: unknown unit {match.group(2)!r}; write it as {ACCEPTED_FORMS}"
            )
        total += unit * float(match.group(1))
        position = match.end()
    if position == len(text) and position > 0:
        return total
    raise DurationError(f"{value!r} is not a duration; write it as {ACCEPTED_FORMS}")


def describe(delta: timedelta) -> str:
    """A duration for people: "3 days", "1 day 12 hours", "20 hours", "2 minutes"."""
    seconds = int(delta.total_seconds())
    if seconds <= 0:
        return "0 seconds"
    parts = []
    for name, size in (("week", 604800), ("day", 86400), ("hour", 3600), ("minute", 60)):
        if name == "week" and seconds % 604800:
            continue  # "10 days" reads better than "1 week 3 days"
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count} {name}{'s' if count != 1 else ''}")
    if seconds:
        parts.append(f"{seconds} second{'s' if seconds != 1 else ''}")
    return " ".join(parts)

"""Render an email's subject, text and HTML from its Jinja2 templates, safely and strictly."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from types import TracebackType
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from worker.errors import Problem, UserError
from worker.jinja_env import sandboxed_environment
from worker.settings import get_settings

PARTS = ("subject.txt", "body.txt", "body.html")
_MONTHS_EN = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip
_WEEKDAYS_JA = "月火水木金土日"
# How a Japanese reader names a timezone; others fall back to the abbreviation or UTC offset.
_ZONE_NAMES_JA = {"Asia/Tokyo": "日本時間", "UTC": "協定世界時", "Etc/UTC": "協定世界時"}


class TemplateProblem(UserError):
    """A template cannot be rendered: names the file and line, and what to fix."""

    def __init__(self, template: str, line: int | None, message: str) -> None:
        where = f"{template}:{line}" if line else template
        super().__init__(f"template {where}: {message}", [Problem(where, None, message)])
        self.template = template
        self.line = line
        self.detail = message


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


def template_name(kind: str, lang: str, part: str) -> str:
    """`email/<kind>/<lang>/<part>`, relative to the templates folder."""
    return f"email/{kind}/{lang}/{part}"


# --- dates ------------------------------------------------------------------------------------


def _local(value: datetime, tz: str | ZoneInfo) -> datetime:
    if value.tzinfo is None:
        raise ValueError("a naive datetime cannot be shown in a timezone; pass an aware one")
    return value.astimezone(tz if isinstance(tz, ZoneInfo) else ZoneInfo(tz))


def _zone_label_en(local: datetime) -> str:
    abbreviation = local.strftime("%Z")
    if abbreviation and abbreviation[0] not in "+-":
        return abbreviation
    offset = local.strftime("%z")  # +0900
    return f"UTC{offset[:3]}:{offset[3:]}"


def format_datetime(value: datetime, lang: str, tz: str | ZoneInfo) -> str:
    """In the given timezone: `29 May 2024, 17:00 JST` / `2024年5月29日（水）17時（日本時間）`."""
    local = _local(value, tz)
    if lang == "ja":
        zone = _ZONE_NAMES_JA.get(getattr(local.tzinfo, "key", "")) or _zone_label_en(local)
        minutes = f"{local.minute}分" if local.minute else ""
        return f"{_day(local, 'ja')}{local.hour}時{minutes}（{zone}）"
    return f"{_day(local, 'en')}, {local:%H:%M} {_zone_label_en(local)}"


def format_date(value: datetime, lang: str, tz: str | ZoneInfo) -> str:
    """The day in the given timezone: `29 May 2024` / `2024年5月29日（水）`."""
    return _day(_local(value, tz), lang)


def _day(local: datetime, lang: str) -> str:
    if lang == "ja":
        return f"{local.year}年{local.month}月{local.day}日（{_WEEKDAYS_JA[local.weekday()]}）"
    return f"{local.day} {_MONTHS_EN[local.month - 1]} {local.year}"


# --- environment ------------------------------------------------------------------------------


@lru_cache(maxsize=8)
def environment(templates_dir: Path) -> SandboxedEnvironment:
    """One sandboxed environment per templates folder (templates are compiled once, then cached)."""
    env = sandboxed_environment(templates_dir)
    env.filters["datetime_in"] = format_datetime
    env.filters["date_in"] = format_date
    return env


def _template_frame(tb: TracebackType | None, templates_dir: Path) -> tuple[str, int] | None:
    """The innermost frame inside a template (Jinja2 rewrites frames to template lines)."""
    found: tuple[str, int] | None = None
    root = str(templates_dir.resolve())
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if filename.startswith(root) or filename.startswith(str(templates_dir)):
            found = (filename, tb.tb_lineno)
        tb = tb.tb_next
    return found


def _relative(filename: str | None, templates_dir: Path, fallback: str) -> str:
    if not filename:
        return fallback
    path = Path(filename)
    for root in (templates_dir, templates_dir.resolve()):
        try:
            return str(path.relative_to(root))
        except ValueError:
            continue
    return filename


def render_template(
    name: str, context: Mapping[str, Any], *, templates_dir: Path | None = None
) -> str:
    """Render one template; every failure becomes a TemplateProblem naming file and line."""
    folder = templates_dir or get_settings().templates_dir
    env = environment(folder)
    try:
        return env.get_template(name).render(context)
    except jinja2.TemplateSyntaxError as exc:
        where = _relative(exc.filename, folder, exc.name or name)
        raise TemplateProblem(where, exc.lineno, f"syntax error: {exc.message}") from None
    except jinja2.TemplateNotFound as exc:
        missing = exc.name if isinstance(exc.name, str) else name
        raise TemplateProblem(
            missing, None, f"template file is missing; create {folder / missing}"
        ) from None
    except jinja2.UndefinedError as exc:
        frame = _template_frame(exc.__traceback__, folder)
        where, line = (_relative(frame[0], folder, name), frame[1]) if frame else (name, None)
        raise TemplateProblem(
            where, line, f"{exc.message}; fix the template or give this value in the context"
        ) from None
    except jinja2.TemplateError as exc:  # sandbox violations and other template errors
        frame = _template_frame(exc.__traceback__, folder)
        where, line = (_relative(frame[0], folder, name), frame[1]) if frame else (name, None)
        raise TemplateProblem(where, line, str(exc)) from None


def render_email(
    kind: str, lang: str, context: Mapping[str, Any], *, templates_dir: Path | None = None
) -> RenderedEmail:
    """Subject (one line), text and HTML of one email kind in one language."""
    names = [template_name(kind, lang, part) for part in PARTS]
    subject_raw, text, html = (
        render_template(n, context, templates_dir=templates_dir) for n in names
    )
    subject = subject_raw.strip()
    if "\r" in subject or "\n" in subject:
        raise TemplateProblem(
            names[0], None, "the subject renders to more than one line; a subject must be one line"
        )
    return RenderedEmail(subject=subject, text=text, html=html)

"""The console's Jinja2 environment: the mail templates' settings, autoescaped, strict."""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2.sandbox import SandboxedEnvironment
from starlette.requests import Request
from starlette.responses import HTMLResponse

from worker.jinja_env import sandboxed_environment
from worker.web.i18n import translate


def local_time(value: datetime | None, tz: str, fmt: str = "%Y-%m-%d %H:%M %Z") -> str:
    """A stored UTC time in the campaign's timezone (dates are shown where the campaign is)."""
    if value is None:
        return "-"
    return value.astimezone(ZoneInfo(tz)).strftime(fmt)


@lru_cache(maxsize=4)
def environment(templates_dir: Path) -> SandboxedEnvironment:
    """One environment per templates folder: `worker.jinja_env`'s settings, the console's filter."""
    env = sandboxed_environment(templates_dir)
    env.filters["local"] = local_time
    return env


def render(
    request: Request, name: str, context: dict[str, Any], status_code: int = 200
) -> HTMLResponse:
    """Render templates/web/<name> with what every page needs (user, language, CSRF token)."""
    state = request.app.state
    lang = request.session.get("lang", "en")
    base: dict[str, Any] = {
        "request": request,
        "lang": lang,
        "t": lambda text: translate(lang, text),
        "user": getattr(request.state, "user", None),
        "csrf_token": request.session.get("csrf", ""),
        "path": request.url.path,
    }
    html = environment(state.templates_dir).get_template(f"web/{name}").render({**base, **context})
    return HTMLResponse(html, status_code=status_code)

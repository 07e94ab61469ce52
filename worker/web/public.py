"""Pages without login: the RFC 8058 one-click unsubscribe link from invitations and reminders."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from worker.actions.one_click import describe, one_click_unsubscribe
from worker.settings import get_settings
from worker.web.deps import in_session, now, read_only
from worker.web.templating import render


async def unsubscribe(request: Request) -> Response:
    """GET shows whom the link unsubscribes and a button; POST (a mail client's one-click
    `List-Unsubscribe=One-Click`, or that button) suppresses the address. The token in the URL
    is the proof (it is derived from the secret key), so there is no login and no CSRF token;
    repeating the POST changes nothing."""
    token = str(request.path_params["token"])
    secret = get_settings().secret()
    if request.method == "POST":
        done = await in_session(lambda s: one_click_unsubscribe(s, token, secret, now=now()))
        return render(request, "unsubscribed.html", {"u": done, "done": True})
    view = await read_only(lambda s: describe(s, token, secret))
    return render(request, "unsubscribed.html", {"u": view, "done": view.already})

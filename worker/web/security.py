"""Sessions, CSRF and headers: who is logged in, and that a form came from our own page."""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from worker.actions.users import Account

# No inline script or style anywhere: everything comes from /static on our own origin.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'; "
    "frame-src 'self'"
)
# The letter previews are the letter's own HTML (with its print CSS): shown sandboxed, no script.
LETTER_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; sandbox"
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "SAMEORIGIN",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


class SecurityHeaders:
    """Adds the CSP and friends to every response that did not set its own CSP."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {name.lower() for name, _ in headers}
                if b"content-security-policy" not in names:
                    headers.append((b"content-security-policy", CSP.encode()))
                for name, value in SECURITY_HEADERS.items():
                    if name.lower().encode() not in names:
                        headers.append((name.lower().encode(), value.encode()))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)


def csrf_token(request: Request) -> str:
    """The session's CSRF token, made on first use (a fresh one after each login)."""
    token = request.session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return str(token)


async def checked_form(request: Request) -> FormData:
    """The posted form, if it carries this session's CSRF token; 403 otherwise.

    The token is a hidden field (or the X-CSRF-Token header of an HTMX request); SameSite=Strict
    cookies are a second line, not the only one.
    """
    form = await request.form()
    sent = form.get("csrf_token") or request.headers.get("x-csrf-token") or ""
    expected = request.session.get("csrf") or ""
    if not isinstance(sent, str) or not expected or not hmac.compare_digest(sent, expected):
        raise HTTPException(403, "This form has expired or did not come from this console; "
                                 "reload the page and try again.")  # fmt: skip
    return form


def current_user(request: Request) -> Account | None:
    user: Account | None = getattr(request.state, "user", None)
    return user


Handler = Callable[[Request], Awaitable[Any]]


def login_required(handler: Handler) -> Handler:
    """Pages for any logged-in account; others are sent to the login page."""

    async def wrapped(request: Request) -> Any:
        if current_user(request) is None:
            from starlette.responses import RedirectResponse

            return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
        return await handler(request)

    wrapped.__name__ = handler.__name__
    wrapped.__doc__ = handler.__doc__
    return wrapped


def lead_required(handler: Handler) -> Handler:
    """Decisions (resolve, approve, retry, start...): only a `lead` account; CSRF checked."""

    async def wrapped(request: Request) -> Any:
        user = current_user(request)
        if user is None:
            from starlette.responses import RedirectResponse

            return RedirectResponse("/login", status_code=303)
        await checked_form(request)
        if not user.can_decide:
            raise HTTPException(403, "Only a lead can do this; ask a lead, or for a lead account.")
        return await handler(request)

    wrapped.__name__ = handler.__name__
    wrapped.__doc__ = handler.__doc__
    wrapped.lead_only = True  # type: ignore[attr-defined]
    return wrapped

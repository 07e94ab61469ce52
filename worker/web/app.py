"""The web console: a Starlette app calling the same use cases as the CLI (`outreach web`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from worker.actions.users import LoginThrottled, authenticate, get_account
from worker.errors import NotFound, UserError
from worker.settings import Settings, get_settings
from worker.web import decisions, forms, pages, public
from worker.web.deps import in_session, now, read_only
from worker.web.i18n import LANGUAGES
from worker.web.security import SecurityHeaders, checked_form, csrf_token
from worker.web.templating import render

STATIC_DIR = Path(__file__).resolve().parent / "static"
SESSION_HOURS = 8


class LoadUser:
    """Puts the logged-in Account (or None) on request.state.user, from the signed session."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            user_id = scope.get("session", {}).get("uid")
            user = None
            if isinstance(user_id, int):
                user = await read_only(lambda s: get_account(s, user_id))
            scope.setdefault("state", {})["user"] = user
        await self.app(scope, receive, send)


def _safe_next(target: str | None) -> str:
    """Only a path on this site (never //host or a scheme): no open redirect after login."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


async def login(request: Request) -> Response:
    csrf_token(request)
    error = ""
    status = 200
    if request.method == "POST":
        form = await checked_form(request)
        email, password = str(form.get("email") or ""), str(form.get("password") or "")
        client = request.client.host if request.client else "-"
        try:
            account = await in_session(
                lambda s: authenticate(s, email, password, client=client, now=now())
            )
        except LoginThrottled as exc:
            account, error, status = None, exc.message, 429
        if account is not None:
            lang = request.session.get("lang", "en")
            request.session.clear()  # a new session on login: no fixation
            request.session.update({"uid": account.id, "lang": lang})
            csrf_token(request)
            return RedirectResponse(_safe_next(request.query_params.get("next")), 303)
        if not error:
            error, status = "Wrong email or password.", 401
    return render(request, "login.html", {"error": error,
                                          "next": request.query_params.get("next", "")}, status)


async def logout(request: Request) -> Response:
    await checked_form(request)
    request.session.clear()
    return RedirectResponse("/login", 303)


async def set_language(request: Request) -> Response:
    lang = request.path_params["lang"]
    if lang in LANGUAGES:
        request.session["lang"] = lang
    back = request.headers.get("referer") or "/"
    parts = urlsplit(back)
    return RedirectResponse(_safe_next(parts.path + (f"?{parts.query}" if parts.query else "")),
                            303)  # fmt: skip


async def user_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, UserError)
    csrf_token(request)
    status = 404 if isinstance(exc, NotFound) else 400
    return render(request, "error.html", {"message": exc.message,
                                          "problems": exc.problems}, status)  # fmt: skip


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if "session" not in request.scope:
        return Response(exc.detail, exc.status_code, media_type="text/plain")
    csrf_token(request)
    return render(request, "error.html", {"message": exc.detail, "problems": []},
                  exc.status_code)  # fmt: skip


ROUTES: list[Any] = [
    Route("/", pages.campaigns),
    Route("/login", login, methods=["GET", "POST"]),
    Route("/logout", logout, methods=["POST"]),
    Route("/lang/{lang}", set_language),
    Route("/new", forms.new_campaign, methods=["GET", "POST"]),
    Route("/c/{slug}", pages.dashboard),
    Route("/c/{slug}/live", pages.dashboard_live),
    Route("/c/{slug}/organisations", pages.organisations),
    Route("/c/{slug}/organisations/{org_id:int}", pages.thread),
    Route("/c/{slug}/review", pages.review_next),
    Route("/c/{slug}/review/{item_id:int}", pages.review_item),
    Route("/c/{slug}/review/{item_id:int}", decisions.resolve, methods=["POST"]),
    Route("/c/{slug}/letter", pages.letter),
    Route("/c/{slug}/letter/{lang}.pdf", pages.letter_pdf),
    Route("/c/{slug}/letter/{lang}.html", pages.letter_html),
    Route("/c/{slug}/approve", decisions.approve, methods=["POST"]),
    Route("/c/{slug}/outbox", pages.outbox),
    Route("/c/{slug}/outbox/{outbox_id:int}/retry", decisions.retry, methods=["POST"]),
    Route("/c/{slug}/outbox/{outbox_id:int}/resolve", decisions.resolve_held, methods=["POST"]),
    Route("/c/{slug}/evidence.zip", pages.evidence),
    Route("/c/{slug}/preview", pages.preview),
    Route("/c/{slug}/contacts", forms.upload_contacts, methods=["POST"]),
    Route("/c/{slug}/{verb:str}", decisions.lifecycle, methods=["POST"]),
    Route("/unsubscribe/{token}", public.unsubscribe, methods=["GET", "POST"]),
    Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
]


def create_app(settings: Settings | None = None) -> Starlette:
    """The ASGI app. Sessions are signed cookies (HttpOnly, SameSite=Strict, Secure when the
    console is served over https), keyed from the service's secret."""
    settings = settings or get_settings()
    import hashlib

    session_key = hashlib.sha256(b"web-session\0" + settings.secret()).hexdigest()
    app = Starlette(
        routes=ROUTES,
        middleware=[
            Middleware(SecurityHeaders),
            Middleware(
                SessionMiddleware,
                secret_key=session_key,
                session_cookie="outreach_session",
                max_age=SESSION_HOURS * 3600,
                same_site="strict",
                https_only=settings.public_url.startswith("https://"),
            ),
            Middleware(LoadUser),
        ],
        exception_handlers={UserError: user_error, HTTPException: http_error},
    )
    app.state.templates_dir = settings.templates_dir
    app.state.settings = settings
    return app

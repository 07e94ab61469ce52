"""The console's pages (GET): each reads one use case's view and renders one template."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from worker.actions import approval, email_preview, mail_problems, overview, review_queue, threads
from worker.settings import get_settings
from worker.web.deps import in_session, now, read_only
from worker.web.security import LETTER_CSP, csrf_token, current_user, login_required
from worker.web.templating import render

T = TypeVar("T")


def _slug(request: Request) -> str:
    return str(request.path_params["slug"])


async def _with_timezone(slug: str, read: Callable[[Session], T]) -> tuple[T, str]:
    """What `read` returns, and the campaign's timezone (the page shows its dates in it)."""
    view = await read_only(read)
    return view, await read_only(lambda s: overview.campaign_or_404(s, slug).timezone)


@login_required
async def campaigns(request: Request) -> Response:
    """Every campaign with its state, deadline (its own timezone) and funnel counts."""
    csrf_token(request)
    rows = await read_only(overview.list_campaigns)
    return render(request, "campaigns.html", {"campaigns": rows})


@login_required
async def dashboard(request: Request) -> Response:
    csrf_token(request)
    slug = _slug(request)
    view = await read_only(lambda s: overview.dashboard(s, slug, now()))
    return render(request, "dashboard.html", {"d": view, "slug": slug})


@login_required
async def dashboard_live(request: Request) -> Response:
    """The live part of the dashboard, polled by HTMX every few seconds."""
    slug = _slug(request)
    view = await read_only(lambda s: overview.dashboard(s, slug, now()))
    return render(request, "_live.html", {"d": view, "slug": slug})


@login_required
async def organisations(request: Request) -> Response:
    csrf_token(request)
    slug = _slug(request)
    q = request.query_params
    search, state, language = q.get("q", ""), q.get("state", ""), q.get("language", "")
    rows = await read_only(
        lambda s: threads.organisations(s, slug, search=search, state=state, language=language)
    )
    return render(request, "organisations.html", {
        "slug": slug, "rows": rows, "q": search, "state": state, "language": language,
        "states": threads.INVITATION_STATES,
    })  # fmt: skip


@login_required
async def thread(request: Request) -> Response:
    csrf_token(request)
    slug = _slug(request)
    org_id = int(request.path_params["org_id"])
    view, timezone = await _with_timezone(slug, lambda s: threads.thread(s, slug, org_id))
    return render(request, "thread.html", {"slug": slug, "t_": view, "tz": timezone})


@login_required
async def review_next(request: Request) -> Response:
    """The oldest open item, or a page saying nothing waits."""
    csrf_token(request)
    slug = _slug(request)
    after = request.query_params.get("after")
    item_id = await read_only(
        lambda s: review_queue.next_item_id(s, slug, int(after) if after else None)
    )
    if item_id is None:
        return render(request, "review_empty.html", {"slug": slug})
    return RedirectResponse(f"/c/{slug}/review/{item_id}", 303)


@login_required
async def review_item(request: Request) -> Response:
    csrf_token(request)
    slug = _slug(request)
    item_id = int(request.path_params["item_id"])
    screen, timezone = await _with_timezone(
        slug, lambda s: review_queue.review_screen(s, slug, item_id)
    )
    return render(request, "review.html", {"slug": slug, "r": screen, "tz": timezone,
                                           "done": request.query_params.get("done", "")})


@login_required
async def letter(request: Request) -> Response:
    """Both languages side by side, count and list hash, and what approval sends to whom."""
    csrf_token(request)
    slug = _slug(request)
    # Committed: a held letter is brought up to date with late signatures before it is shown.
    user = current_user(request)
    viewer = f"web:{user.email}" if user else "web"
    page = await in_session(lambda s: approval.letter_page(s, slug, now=now(), viewer=viewer))
    return render(request, "letter.html", {"slug": slug, "p": page})


@login_required
async def letter_pdf(request: Request) -> Response:
    slug, lang = _slug(request), str(request.path_params["lang"])
    data = await read_only(lambda s: approval.letter_file(s, slug, lang, "pdf", now=now()))
    return Response(data, media_type="application/pdf", headers={
        "Content-Disposition": f'attachment; filename="{slug}-letter-{lang}.pdf"'})


@login_required
async def letter_html(request: Request) -> Response:
    """The letter as it will be printed, framed by the letter page (sandboxed, no script)."""
    slug, lang = _slug(request), str(request.path_params["lang"])
    data = await read_only(lambda s: approval.letter_file(s, slug, lang, "html", now=now()))
    return Response(data, media_type="text/html; charset=utf-8",
                    headers={"Content-Security-Policy": LETTER_CSP})


@login_required
async def outbox(request: Request) -> Response:
    csrf_token(request)
    slug = _slug(request)
    rows = await read_only(lambda s: mail_problems.mail_problems(s, slug))
    timezone = await read_only(lambda s: overview.campaign_or_404(s, slug).timezone)
    return render(request, "outbox.html", {"slug": slug, "rows": rows, "tz": timezone})


@login_required
async def evidence(request: Request) -> Response:
    slug = _slug(request)
    keys_dir = get_settings().data_dir / "keys"
    # Committed: the first export creates the campaign's signing key.
    data = await in_session(
        lambda s: mail_problems.evidence_zip(s, slug, keys_dir=keys_dir, now=now())
    )
    return Response(data, media_type="application/zip", headers={
        "Content-Disposition": f'attachment; filename="{slug}-evidence.zip"'})


@login_required
async def preview(request: Request) -> Response:
    """The exact email every contact would get (invitation by default), before anything goes."""
    csrf_token(request)
    slug = _slug(request)
    kind = request.query_params.get("kind", "invitation")
    secret = get_settings().secret()
    rows = await read_only(lambda s: email_preview.preview_emails(
        s, slug, kind=kind, secret=secret, now=now()))  # fmt: skip
    return render(request, "preview.html", {"slug": slug, "rows": rows, "kind": kind,
                                            "kinds": email_preview.KINDS})  # fmt: skip

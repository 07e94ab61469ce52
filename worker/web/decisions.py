"""The console's decisions (POST): lead only, CSRF checked, audited as the logged-in account."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from worker.actions import approval, mail_problems, review_queue
from worker.actions.campaigns import pause_campaign, resume_campaign, start_campaign
from worker.errors import NotFound
from worker.settings import get_settings
from worker.web.deps import in_session, now
from worker.web.security import current_user, lead_required


def actor(request: Request) -> str:
    """Who decided, for the audit log and `decided_by`: `web:<email>` of the account."""
    user = current_user(request)
    assert user is not None
    return f"web:{user.email}"


@lead_required
async def resolve(request: Request) -> Response:
    """Decide a review item with one click, then go straight to the next one."""
    slug, item_id = str(request.path_params["slug"]), int(request.path_params["item_id"])
    form = await request.form()
    outcome, name = str(form.get("outcome") or ""), str(form.get("name") or "")
    by, secret = actor(request), get_settings().secret()
    await in_session(lambda s: review_queue.decide(
        s, slug, item_id, outcome=outcome, name=name, by=by, secret=secret, now=now()))  # fmt: skip
    return RedirectResponse(f"/c/{slug}/review?after={item_id}", 303)


@lead_required
async def approve(request: Request) -> Response:
    """Release the final letter the page showed (refused if it changed meanwhile)."""
    slug = str(request.path_params["slug"])
    form = await request.form()
    expected = str(form.get("message_sha256") or "")
    list_hash = str(form.get("list_hash") or "")
    by = actor(request)
    await in_session(lambda s: approval.approve_letter(
        s, slug, expected_sha256=expected, expected_list_hash=list_hash, actor=by,
        now=now()))  # fmt: skip
    return RedirectResponse(f"/c/{slug}/letter", 303)


@lead_required
async def retry(request: Request) -> Response:
    slug, outbox_id = str(request.path_params["slug"]), int(request.path_params["outbox_id"])
    by = actor(request)
    await in_session(lambda s: mail_problems.retry(s, slug, outbox_id, actor=by, now=now()))
    return RedirectResponse(f"/c/{slug}/outbox", 303)


@lead_required
async def resolve_held(request: Request) -> Response:
    slug, outbox_id = str(request.path_params["slug"]), int(request.path_params["outbox_id"])
    form = await request.form()
    sent = form.get("decision") == "sent"
    by = actor(request)
    await in_session(lambda s: mail_problems.resolve_held(
        s, slug, outbox_id, sent=sent, actor=by, now=now()))  # fmt: skip
    return RedirectResponse(f"/c/{slug}/outbox", 303)


_LIFECYCLE = {"start": start_campaign, "pause": pause_campaign, "resume": resume_campaign}


@lead_required
async def lifecycle(request: Request) -> Response:
    """Start, pause or resume the campaign (the same use cases as `outreach campaign ...`)."""
    slug, verb = str(request.path_params["slug"]), str(request.path_params["verb"])
    move = _LIFECYCLE.get(verb)
    if move is None:
        raise NotFound(f"no action {verb!r} for a campaign")
    by = actor(request)
    await in_session(lambda s: move(s, slug, actor=by, now=now()))
    return RedirectResponse(f"/c/{slug}", 303)

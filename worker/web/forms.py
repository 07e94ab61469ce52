"""The new-campaign form and the contacts upload: the same definition and import as the CLI."""

from __future__ import annotations

from typing import Any

from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import Response

from worker.actions.new_campaign import CampaignForm, create_campaign, import_contacts_upload
from worker.errors import UserError
from worker.settings import get_settings
from worker.web.decisions import actor
from worker.web.deps import in_session
from worker.web.security import checked_form, csrf_token, current_user, login_required
from worker.web.templating import render

MAX_CSV_BYTES = 5_000_000


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def _name(form: FormData, prefix: str) -> dict[str, str]:
    name = {k: _text(form, f"{prefix}_{k}") for k in ("en", "ja", "reading")}
    return {k: v for k, v in name.items() if v}


def parse_form(form: FormData) -> CampaignForm:
    """The posted fields as a CampaignForm; the schema checks them when the file is loaded.

    Coordinators: one per line, `email | name (en) | name (ja) | reading`; the first is the lead.
    """
    languages = [lang for lang in ("en", "ja") if form.get(f"lang_{lang}")]
    coordinators: list[dict[str, Any]] = []
    for index, line in enumerate(_lines(_text(form, "coordinators"))):
        parts = [p.strip() for p in line.split("|")] + ["", "", "", ""]
        name = {k: v for k, v in zip(("en", "ja", "reading"), parts[1:4], strict=True) if v}
        coordinators.append({"name": name, "email": parts[0] or None, "lead": index == 0})
    recipient: dict[str, Any] = {
        "name": _name(form, "minister"), "email": _text(form, "minister_email")
    }
    title = {k: v for k in ("en", "ja") if (v := _text(form, f"minister_title_{k}"))}
    if title:
        recipient["title"] = title
    postal = {k: _text(form, f"postal_{k}") for k in ("en", "ja") if _text(form, f"postal_{k}")}
    if postal:
        recipient["postal_address"] = postal
    return CampaignForm(
        slug=_text(form, "slug"),
        title={lang: _text(form, f"title_{lang}") for lang in languages},
        languages=languages,
        timezone=_text(form, "timezone"),
        letter={lang: _text(form, f"letter_{lang}") for lang in languages},
        coordinators=coordinators,
        ministry={"recipient": recipient, "cc": _lines(_text(form, "cc").replace(",", "\n"))},
        sender={
            "name": _name(form, "sender"),
            "address": _text(form, "sender_address"),
            "reply_local_part": _text(form, "reply_local_part") or "signon",
            "reply_domain": _text(form, "reply_domain"),
            "lead_email": _text(form, "lead_email"),
        },
        invite_at=_text(form, "invite_at"),
        deadline=_text(form, "deadline"),
        reminders=[r for r in _text(form, "reminders").split(",") if r.strip()],
        quiet_start=_text(form, "quiet_start"),
        quiet_end=_text(form, "quiet_end"),
        requires_approval=bool(form.get("requires_approval")),
    )


async def _csv(form: FormData) -> bytes | None:
    upload = form.get("contacts")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return None
    data = await upload.read(MAX_CSV_BYTES + 1)
    if len(data) > MAX_CSV_BYTES:
        raise UserError(f"the contacts file is over {MAX_CSV_BYTES // 1_000_000} MB; split it")
    return data


@login_required
async def new_campaign(request: Request) -> Response:
    """GET: the empty form. POST (lead only): write, load and import, then show the result."""
    csrf_token(request)
    if request.method == "GET":
        return render(request, "new_campaign.html", {"values": {}, "error": None})
    form = await checked_form(request)
    user = current_user(request)
    if user is None or not user.can_decide:
        return render(request, "error.html", {"message": "Only a lead can do this.",
                                              "problems": []}, 403)  # fmt: skip
    values = {k: v for k, v in form.items() if isinstance(v, str)}
    settings, by = get_settings(), actor(request)
    try:
        parsed = parse_form(form)
        data = await _csv(form)
        created = await in_session(lambda s: create_campaign(
            s, parsed, data, campaigns_dir=settings.campaigns_dir, secret=settings.secret(),
            actor=by))  # fmt: skip
    except UserError as exc:
        return render(request, "new_campaign.html", {"values": values, "error": exc}, 400)
    return render(request, "created.html", {"slug": created.slug, "summary": created.contacts})


@login_required
async def upload_contacts(request: Request) -> Response:
    """More contacts for an existing campaign; bad rows are listed, good ones imported."""
    slug = str(request.path_params["slug"])
    form = await checked_form(request)
    user = current_user(request)
    if user is None or not user.can_decide:
        return render(request, "error.html", {"message": "Only a lead can do this.",
                                              "problems": []}, 403)  # fmt: skip
    data = await _csv(form)
    if not data:
        raise UserError("choose a contacts .csv file to upload")
    settings, by = get_settings(), actor(request)
    summary = await in_session(lambda s: import_contacts_upload(
        s, slug, data, campaigns_dir=settings.campaigns_dir, secret=settings.secret(),
        actor=by))  # fmt: skip
    return render(request, "created.html", {"slug": slug, "summary": summary})

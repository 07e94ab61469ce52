"""The values a template sees for one contact (or for the campaign lead), built in one place."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import markdown
from markupsafe import Markup
from sqlalchemy.orm import object_session

from worker.core import tokens
from worker.core.kinds import CONTACT_KINDS as CONTACT_KINDS
from worker.core.kinds import LEAD_KINDS as LEAD_KINDS
from worker.core.kinds import EmailKind
from worker.core.letter import printed_names
from worker.core.states import InvitationState
from worker.errors import Problem, UserError
from worker.mail.plaintext import markdown_to_text
from worker.mail.render import format_datetime
from worker.models import Campaign, Invitation, Organisation, Signature
from worker.signatures import active_signature

LANGUAGE_LABELS = {
    "en": {"en": "English", "ja": "Japanese"},
    "ja": {"en": "英語", "ja": "日本語"},
}
UNSUBSCRIBE_WORD = {"en": "unsubscribe", "ja": "配信停止"}

# Values `campaign check` and `preview` give the kinds that need more than the database holds.
SAMPLE_EXTRA: dict[str, dict[str, Any]] = {
    EmailKind.QUESTION_FORWARD: {
        "organisation_name": "Sample NGO / サンプル団体",
        "from_address": "someone@ngo.example",
        "received_at": datetime(2024, 5, 27, 3, 0, tzinfo=UTC),
        "original_subject": "Re: joint letter / 共同書簡",
        "original_text": (
            "Could we see the final list before it is sent?\n送付前に最終リストを拝見できますか？"
        ),
        "review_id": 1,
    },
    EmailKind.BOUNCE_REPORT: {
        "organisation_name": "Sample NGO / サンプル団体",
        "recipient": "info@ngo.example",
        "permanent": True,
        "smtp_code": 550,
        "diagnostic": "5.1.1 <info@ngo.example>: Recipient address rejected: User unknown",
        "received_at": datetime(2024, 5, 27, 3, 0, tzinfo=UTC),
        "next_address": None,
    },
}


@lru_cache(maxsize=32)
def letter_html(markdown_text: str) -> str:
    """The letter as HTML. It is the campaign lead's own file, so its HTML is trusted."""
    return markdown.markdown(
        markdown_text, extensions=["extra", "sane_lists"], output_format="html"
    )


def definition_value(campaign: Campaign, *path: str) -> Any:
    """A value of the loaded campaign definition, or a UserError naming the missing key."""
    value: Any = campaign.definition
    for depth, key in enumerate(path):
        if not isinstance(value, Mapping) or key not in value:
            where = ".".join(path[: depth + 1])
            raise UserError(
                f"campaign {campaign.slug}: no {where} in the definition; reload the file",
                [Problem(campaign.source_path or campaign.slug, where, "missing")],
            )
        value = value[key]
    return value


def localised(names: Mapping[str, Any] | None, lang: str) -> str:
    """A {en, ja} name in the wanted language, else the other one."""
    if not names:
        return ""
    other = "en" if lang == "ja" else "ja"
    return str(names.get(lang) or names.get(other) or "")


def organisation_name(organisation: Organisation, lang: str) -> str:
    if lang == "ja":
        return organisation.name_ja or organisation.name_en or organisation.key
    return organisation.name_en or organisation.name_ja or organisation.key


def address_lines(organisation_name: str, person: str | None, lang: str) -> list[str]:
    """The salutation. Japanese convention: 御中 for an organisation, 様 for a person, not both."""
    if lang == "ja":
        if person:
            return [organisation_name, f"{person} 様"]
        return [f"{organisation_name} 御中"]
    if person:
        return [f"Dear {person},"]
    return [f"Dear friends at {organisation_name},"]


def display_name(organisation_name: str, person: str | None, lang: str) -> str:
    """The To: name: the person if known, else the organisation (with its honorific in ja)."""
    if lang == "ja":
        return f"{person} 様" if person else f"{organisation_name} 御中"
    return person or organisation_name


def mailto(address: str, subject: str, body: str | None = None) -> str:
    query = f"subject={quote(subject)}"
    if body:
        query += f"&body={quote(body)}"
    return f"mailto:{address}?{query}"


def campaign_context(campaign: Campaign, lang: str) -> dict[str, Any]:
    """What every email of a campaign shows: title, deadline, coordinators, sender."""
    tz = ZoneInfo(campaign.timezone)
    sender = definition_value(campaign, "sender")
    coordinators = [
        localised(c.get("name"), lang) for c in definition_value(campaign, "coordinators")
    ]
    return {
        "lang": lang,
        "campaign_slug": campaign.slug,
        "campaign_title": localised(definition_value(campaign, "title"), lang) or campaign.title,
        "timezone": campaign.timezone,
        "deadline": campaign.deadline,
        "deadline_text": format_datetime(campaign.deadline, lang, tz),
        "coordinators": coordinators,
        "sender_name": localised(sender.get("name"), lang),
        "sender_address": sender["address"],
        "lead_email": sender["lead_email"],
        "delivered": campaign.delivered_at is not None,
        "delivered_text": (
            format_datetime(campaign.delivered_at, lang, tz) if campaign.delivered_at else None
        ),
    }


def _signature(invitation: Invitation) -> Signature | None:
    session = object_session(invitation)
    if session is None or invitation.organisation_id is None:
        return None
    return active_signature(session, invitation.campaign_id, invitation.organisation_id)


def listed_names(
    campaign: Campaign, organisation: Organisation, signature: Signature | None, lang: str
) -> list[dict[str, str]]:
    """How the organisation will appear in each language version of the letter."""
    en, ja = printed_names(
        organisation.name_en,
        organisation.name_ja,
        signature.listed_name_en if signature else None,
        signature.listed_name_ja if signature else None,
    )  # the exact line each letter prints (worker/core/letter.py)
    return [
        {
            "lang": version,
            "label": LANGUAGE_LABELS.get(lang, LANGUAGE_LABELS["en"]).get(version, version),
            "name": ja if version == "ja" else en,
        }
        for version in campaign.languages or [lang]
    ]


def contact_context(
    campaign: Campaign,
    invitation: Invitation,
    *,
    kind: str,
    secret: bytes,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Everything the templates of `kind` need for one invitation, in the invitation's language.

    `extra` adds or overrides values (the intake passes `listed_names` or `sequence`, for example).
    """
    contact = invitation.contact
    organisation = invitation.organisation
    lang = invitation.language or contact.language
    sender = definition_value(campaign, "sender")
    token = invitation.token or tokens.make_token(secret, campaign.slug, contact.email)
    reply = tokens.reply_address(sender["reply_local_part"], sender["reply_domain"], token)
    letter_texts = definition_value(campaign, "letter_text")
    if lang not in letter_texts:
        raise UserError(
            f"campaign {campaign.slug}: no letter text in {lang!r} for {contact.email}",
            [Problem(campaign.source_path or campaign.slug, f"letter.{lang}", "missing")],
        )
    org_name = organisation_name(organisation, lang)
    person = contact.person_name or None
    context = campaign_context(campaign, lang)
    context.update(
        {
            "kind": kind,
            "sequence": 0,
            "contact_email": contact.email,
            "organisation_name": org_name,
            "organisation_name_en": organisation.name_en,
            "organisation_name_ja": organisation.name_ja,
            "person": person,
            "address_lines": address_lines(org_name, person, lang),
            "display_name": display_name(org_name, person, lang),
            "letter_text": markdown_to_text(letter_texts[lang]),  # readable: no `##`
            "letter_html": Markup(letter_html(letter_texts[lang])),  # noqa: S704 (lead's own file)
            "token": token,
            "reply_address": reply,
            "unsubscribe_address": reply,
            "unsubscribe_mailto": mailto(reply, UNSUBSCRIBE_WORD.get(lang, "unsubscribe")),
        }
    )
    if kind == EmailKind.ACKNOWLEDGEMENT:
        context["withdrawn"] = invitation.state == InvitationState.WITHDRAWN.value
        context["listed_names"] = listed_names(campaign, organisation, _signature(invitation), lang)
    if extra:
        context.update(extra)
    return context


def lead_context(
    campaign: Campaign, kind: str, *, lang: str, extra: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Values for mail to the campaign lead (forwarded questions, bounce reports)."""
    context = campaign_context(campaign, lang)
    context.update(
        {
            "kind": kind,
            "sequence": 0,
            "display_name": "",
            "unsubscribe_mailto": None,
        }
    )
    if extra:
        context.update(extra)
    return context

"""Reply bytes -> Classification: intent, listing name, bounce facts and the rules that decided."""

from __future__ import annotations

import dataclasses
import datetime
import email.utils
import re
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import Message
from enum import StrEnum

from worker.core import autoreply, bounces, limits, rules
from worker.core.decode import MessageHeaders, headers_of, parse_message, part_text
from worker.core.listunsub import list_unsubscribe
from worker.core.names import extract_name, other_version_name, quoted_form_name
from worker.core.quotes import OwnText, own_text
from worker.core.withdrawal import Removal, removal_request


class Intent(StrEnum):
    SIGN = "sign"
    DECLINE = "decline"
    QUESTION = "question"
    UNSUBSCRIBE = "unsubscribe"
    AUTO_REPLY = "auto_reply"
    BOUNCE = "bounce"
    UNCLEAR = "unclear"


@dataclass(frozen=True)
class Classification:
    intent: Intent
    name: str | None  # listing the reply asks for, exact characters
    bounced_recipient: str | None
    transient: bool | None  # for bounces
    reasons: tuple[str, ...]  # "rule-name: evidence text" strings, in the order they fired
    language: str | None  # "en" / "ja" best guess of the sender's own words
    own_text: str  # the decoded sender's own words that decided (for review display)
    return_date: datetime.date | None  # auto-replies that state when the person is back
    removal: Removal | None = None  # what a removal request asks to come off (withdrawal.py)
    keeps_signature: bool = False  # an unsubscribe that says the signature stays
    name_sure: bool = True  # False: the name was only found in the quoted form (ask to confirm)
    other_name: str | None = None  # a second listing for the other language version


_REPLY_SUBJECT = re.compile(r"^\s*(?:re|aw|sv|vs|antw|返信|回答)\s*[:：]", re.IGNORECASE)
_FORWARD_SUBJECT = re.compile(r"^\s*(?:fw|fwd|tr|wg|転送)\s*[:：]", re.IGNORECASE)
_JAPANESE = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uff66-\uff9f]")
_LATIN = re.compile(r"[A-Za-z]")
_EVIDENCE_CHARS = 120


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _EVIDENCE_CHARS else text[: _EVIDENCE_CHARS - 1] + "…"


def _language(text: str, fallback: str) -> str | None:
    for sample in (text, fallback):
        japanese = len(_JAPANESE.findall(sample))
        latin = len(_LATIN.findall(sample))
        if japanese or latin:
            return "ja" if japanese * 3 >= latin else "en"
    return None


def _body_text(msg: Message) -> tuple[str, bool]:
    """The reply's own body: text/plain preferred, else HTML as text; and whether it has
    attachments. The HTML is read only when there is no plain text: it costs the most."""
    plain_part, html_part, attachments = body_parts(msg)
    plain = part_text(plain_part) if plain_part is not None else None
    if plain is not None and plain.strip():
        return plain, attachments
    return ((part_text(html_part) if html_part is not None else "") or plain or ""), attachments


def body_parts(msg: Message) -> tuple[Message | None, Message | None, bool]:
    """The first text/plain and text/html parts of the body, and whether it has attachments.
    Parts inside attached messages (forwards, bounces) are not the body."""
    plain: Message | None = None
    html: Message | None = None
    attachments = False
    stack: list[Message] = [msg]
    while stack:
        part = stack.pop(0)
        if part.is_multipart():
            payload = part.get_payload()
            if isinstance(payload, list):
                stack[0:0] = [p for p in payload if isinstance(p, Message)]
            continue
        ctype = part.get_content_type()
        disposition = (part.get("Content-Disposition") or "").lower()
        if ctype.startswith("message/") or "attachment" in disposition:
            attachments = True
            continue
        if ctype == "text/plain" and plain is None:
            plain = part
        elif ctype == "text/html" and html is None:
            html = part
        elif part.get_content_maintype() in ("image", "application", "audio", "video"):
            attachments = True
    return plain, html, attachments


def _reference_date(msg: Message, today: datetime.date | None) -> datetime.date | None:
    if today is not None:
        return today
    try:
        sent = email.utils.parsedate_to_datetime(str(msg.get("Date", "")))
    except (TypeError, ValueError, IndexError):
        return None
    return sent.date()


def _result(intent: Intent, reasons: list[str], own: str, language: str | None, *,
            name: str | None = None, recipient: str | None = None,
            transient: bool | None = None, back: datetime.date | None = None,
            removal: Removal | None = None, keeps_signature: bool = False,
            name_sure: bool = True) -> Classification:
    return Classification(intent, name, recipient, transient, tuple(reasons), language, own, back,
                          removal, keeps_signature, name_sure)


def classify(
    raw: bytes,
    sent_texts: Sequence[str] = (),
    *,
    today: datetime.date | None = None,
    parsed: tuple[Message, MessageHeaders] | None = None,
) -> Classification:
    """Classify one reply. Never raises: anything unreadable is UNCLEAR with a reason.

    `sent_texts` are the texts we sent to this contact (to remove wherever they appear);
    `today` anchors dates that name no year (else the message's Date header does);
    `parsed`: `raw` already parsed by the caller (`parse_message`, `headers_of`), read as is.
    """
    try:
        msg, headers = parsed if parsed is not None else _parse(raw)
    except Exception as exc:  # the parser is lenient; this is for truly broken input
        return _result(Intent.UNCLEAR, [f"unparseable: {type(exc).__name__}"], "", None)
    costly = limits.over_limits(msg)
    if costly:  # never act on a partial reading: a person looks at it instead
        return _result(Intent.UNCLEAR, [f"over-work-cap: {r}" for r in costly], "", None)
    try:
        return _classify(msg, headers, sent_texts, today)
    except Exception as exc:  # a bug must never lose a reply: a person will look at it
        return _result(Intent.UNCLEAR, [f"internal-error: {type(exc).__name__}: {exc}"], "", None)


def _parse(raw: bytes) -> tuple[Message, MessageHeaders]:
    msg = parse_message(raw)
    return msg, headers_of(msg)


def _classify(msg: Message, headers: MessageHeaders, sent_texts: Sequence[str],
              today: datetime.date | None) -> Classification:
    reasons: list[str] = []
    # 1. Bounces first: a bounce also carries Auto-Submitted and quotes our invitation.
    bounce = bounces.detect(msg, headers)
    if bounce is not None:
        reasons.append(bounce.reason)
        notice = bounces.notice_text(msg).strip()
        permanent_missing = bounce.recipient is None and not bounce.transient
        if permanent_missing:
            reasons.append("bounce-recipient-unknown: no address found in the report")
        return _result(Intent.BOUNCE, reasons, notice, _language(notice, headers.subject),
                       recipient=bounce.recipient, transient=bounce.transient)
    body, attachments = _body_text(msg)
    # 2. A client's List-Unsubscribe message: the mailto subject and (almost) nothing else.
    own = own_text(body, sent_texts)
    unsub = list_unsubscribe(headers.subject, list(own.lines))
    if unsub is not None:
        reasons.append(f"list-unsubscribe: {unsub}")
        return _result(Intent.UNSUBSCRIBE, reasons, own.raw_text, _language(own.text, body),
                       removal=Removal.EMAILS)
    # 3. Automatic answers next (they often quote our text, too).
    auto = autoreply.auto_reply_evidence(msg, headers)
    if auto is not None:
        reasons.append(auto)
        back = autoreply.return_date(own.text, _reference_date(msg, today))
        if back is not None:
            reasons.append(f"return-date: {back.isoformat()}")
        return _result(Intent.AUTO_REPLY, reasons, own.raw_text,
                       _language(own.text, headers.subject), back=back)
    # 4. The sender's own words.
    language = _language(own.text, headers.subject + "\n" + body)
    if not own.text:
        what = "only an attachment" if attachments else "nothing but quoted text"
        reasons.append(f"no-own-words: {what}")
        return _result(Intent.UNCLEAR, reasons, "", language)
    name, name_line = extract_name(own.raw_lines)
    reply = rules.Reply(
        own=own,
        subject=headers.subject,
        is_reply=bool(headers.in_reply_to or headers.references or own.had_quote
                      or _REPLY_SUBJECT.match(headers.subject)),
        is_forward=bool(_FORWARD_SUBJECT.match(headers.subject)),
        form_name=name,
    )
    result = _decide(reply, reasons, language, name, name_line)
    other = other_version_name(own.raw_lines, result.name) if result.intent is Intent.SIGN else None
    if other is not None:
        result = dataclasses.replace(result, other_name=other,
                                     reasons=(*result.reasons, f"listing-name-other: {other}"))
    if result.intent is Intent.SIGN and result.name is None:
        # 5. a name typed into our quoted form only: kept, but the acknowledgement asks
        unsure, unsure_line = quoted_form_name(body.split("\n"), sent_texts)
        if unsure is not None:
            return _result(Intent.SIGN, [*result.reasons, f"listing-name-unsure: "
                                         f"{_clip(unsure_line)}"], result.own_text,
                           result.language, name=unsure, name_sure=False)
    return result


def _decide(reply: rules.Reply, reasons: list[str], language: str | None,
            name: str | None, name_line: str) -> Classification:
    """The safe order over the own words.

    1. a removal request: off the letter -> decline (withdraws a signature), off the mail or
    unsure which -> unsubscribe; 2. decline (both win over any sign), 3. sign when a
    commitment, a filled form or a bare yes is found, unless a tripwire or U+FFFD blocks it
    (-> unclear) or the deciding clause is negated/conditional/a question or a decision is
    pending (-> question), 4. question, 5. unclear.
    """
    own: OwnText = reply.own
    text = own.raw_text
    # 1.
    removal = removal_request(rules.answer_text(reply))
    if removal is not None:
        rule_name = {Removal.LETTER: "withdraw-from-letter", Removal.EMAILS: "unsubscribe",
                     Removal.BOTH: "withdraw-and-unsubscribe",
                     Removal.UNSURE: "removal-unsure"}[removal.scope]
        reasons.append(f"{rule_name}: {_clip(removal.evidence)}")
        if removal.keeps_signature:
            reasons.append("keeps-signature: the message says the signature stays")
        intent = Intent.DECLINE if removal.scope is Removal.LETTER else Intent.UNSUBSCRIBE
        return _result(intent, reasons, text, language, removal=removal.scope,
                       keeps_signature=removal.keeps_signature)
    # 2.
    evidence = rules.decline(reply)
    if evidence is not None:
        reasons.append(f"decline: {_clip(evidence)}")
        return _result(Intent.DECLINE, reasons, text, language)
    # 3. sign, with its blockers and demotions
    for rule in rules.SIGN_RULES:
        evidence = rule.check(reply)
        if evidence is None:
            continue
        reasons.append(f"{rule.name}: {_clip(evidence)}")
        for blocker in rules.SIGN_BLOCKERS:
            blocked = blocker.check(reply)
            if blocked is not None:
                reasons.append(f"{blocker.name}: {_clip(blocked)}")
                return _result(Intent.UNCLEAR, reasons, text, language)
        hedge = rules.hedged(evidence) if rule.name == "explicit-commitment" else None
        if hedge is not None:
            reasons.append(f"hedged-sign: {hedge}")
            if reply.is_forward:  # the doubt is put to a colleague, not to us
                reasons.append(f"forwarded-to-colleague: {_clip(reply.subject)}")
                return _result(Intent.UNCLEAR, reasons, text, language)
            return _result(Intent.QUESTION, reasons, text, language)
        waiting = rules.pending(reply)
        if waiting is not None:
            reasons.append(f"pending-decision: {_clip(waiting)}")
            return _result(Intent.QUESTION, reasons, text, language)
        if name is not None:
            reasons.append(f"listing-name: {_clip(name_line)}")
        return _result(Intent.SIGN, reasons, text, language, name=name)
    # 4. a question to us (a forward to a colleague asks them, not us)
    asked = rules.question(reply)
    if asked is not None and not reply.is_forward:
        reasons.append(f"question: {_clip(asked)}")
        return _result(Intent.QUESTION, reasons, text, language)
    if reply.is_forward:
        reasons.append(f"forwarded-to-colleague: {_clip(reply.subject)}")
    # 5.
    reasons.append("no-rule-matched: unclear")
    return _result(Intent.UNCLEAR, reasons, text, language)

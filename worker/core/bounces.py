"""Is this a delivery failure, for which recipient, and is it only a delay?"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.message import Message

from worker.core.decode import MessageHeaders, decode_header_value, part_text

_ADDRESS = re.compile(r"[\w.+=-]+@[\w-]+(?:\.[\w-]+)+", re.ASCII)
_DAEMON = re.compile(
    r"^(?:mailer-daemon|postmaster|mail-daemon|mailerdaemon|bounce[s]?|noreply-dsn|mdaemon)@",
    re.IGNORECASE,
)
_DAEMON_NAME = re.compile(
    r"mail delivery (?:system|subsystem)|mailer[- ]daemon|postmaster|メール配信システム|"
    r"システム管理者|microsoft exchange|メールシステム",
    re.IGNORECASE,
)
_BOUNCE_SUBJECT = re.compile(
    r"undeliver|undelivered mail|delivery status notification|mail delivery failed|"
    r"returned mail|delivery failure|failure notice|delivery has failed|non[- ]?remis|"
    r"unzustellbar|message not delivered|could not be delivered|delivery notification|"
    r"mail system error|nondeliverable|配信(?:不能|エラー|失敗|できません)|届きませんでした|"
    r"届けられませんでした|送信できませんでした|宛先不明|エラーメール|返送|不達",
    re.IGNORECASE,
)
_DELAY = re.compile(
    r"\(delay\)|delayed|will (?:keep )?retry|not (?:been )?delivered yet|temporary|"
    r"temporarily|still trying|遅延|再送を試み|一時的|配送を試みて",
    re.IGNORECASE,
)
_PERMANENT_CODE = re.compile(r"\b5\.\d{1,3}\.\d{1,3}\b|\b55\d\b")
_TRANSIENT_CODE = re.compile(r"\b4\.\d{1,3}\.\d{1,3}\b")
_COPY_START = re.compile(
    r"^(?:-+ ?this is a copy of the message|original message headers|-+ ?original message|"
    r"-+ ?the original message|元のメッセージ|以下.*元のメール)",
    re.IGNORECASE | re.MULTILINE,
)


@dataclass(frozen=True)
class Bounce:
    """A detected delivery failure."""

    recipient: str | None
    transient: bool
    reason: str


def _dsn_fields(msg: Message) -> list[dict[str, str]]:
    """Per-recipient field groups of every message/delivery-status part (RFC 3464)."""
    groups: list[dict[str, str]] = []
    for part in msg.walk():
        if part.get_content_type() != "message/delivery-status":
            continue
        payload = part.get_payload()
        blocks: list[Message] = []
        if isinstance(payload, list):
            blocks = [p for p in payload if isinstance(p, Message)]
        elif isinstance(payload, str):
            text = payload
            blocks = []
            for chunk in re.split(r"\n\s*\n", text.replace("\r\n", "\n")):
                fields: dict[str, str] = {}
                for m in re.finditer(r"^([\w-]+):[ \t]*(.*(?:\n[ \t].*)*)", chunk, re.MULTILINE):
                    fields[m.group(1).lower()] = " ".join(m.group(2).split())
                if fields:
                    groups.append(fields)
        for block in blocks:
            groups.append({k.lower(): " ".join(str(v).split()) for k, v in block.items()})
    return [g for g in groups if "action" in g or "final-recipient" in g or "status" in g]


def _address_in(value: str) -> str | None:
    m = _ADDRESS.search(value.split(";", 1)[-1])
    return m.group(0).lower() if m else None


def from_dsn(msg: Message) -> Bounce | None:
    """An RFC 3464 delivery-status report; `delayed` or a 4.x.x status is transient."""
    groups = [g for g in _dsn_fields(msg) if "final-recipient" in g or "original-recipient" in g]
    if not groups:
        return None
    failed = [g for g in groups if g.get("action", "").lower() == "failed"
              or g.get("status", "").startswith("5")]
    chosen = failed[0] if failed else groups[0]
    action = chosen.get("action", "").lower()
    if action in ("delivered", "relayed", "expanded") and not failed:
        return None
    recipient = _address_in(chosen.get("final-recipient", "")) or _address_in(
        chosen.get("original-recipient", "")
    )
    transient = not failed and (action == "delayed" or chosen.get("status", "").startswith("4"))
    evidence = f"Action: {action or '?'}, Status: {chosen.get('status', '?')}"
    return Bounce(recipient, transient, f"dsn-report: {evidence}")


def _flufl_recipient(msg: Message) -> tuple[str | None, bool]:
    """Recipient found by flufl.bounce's detectors (permanent first), and whether transient."""
    try:
        from flufl.bounce import all_failures

        temporary, permanent = all_failures(msg)
    except Exception:  # its heuristics may trip on odd mail; it is only a helper
        return None, False
    for found, transient in ((permanent, False), (temporary, True)):
        for addr in sorted(found):
            text = addr.decode("utf-8", "replace") if isinstance(addr, bytes) else str(addr)
            if "@" in text:
                return text.lower(), transient
    return None, False


def notice_text(msg: Message) -> str:
    """The human-readable notice: first text part, cut before the returned copy."""
    for part in msg.walk():
        if part.get_content_maintype() == "message":
            break
        if part.get_content_type() in ("text/plain", "text/html") and not part.is_multipart():
            text = part_text(part)
            m = _COPY_START.search(text)
            return text[: m.start()] if m else text
    return ""


def is_bounce_like(msg: Message, headers: MessageHeaders) -> str | None:
    """Evidence that the message comes from mail software reporting a failure, else None."""
    sender = headers.from_address or ""
    null_path = headers.return_path == ""
    daemon = bool(_DAEMON.match(sender)) or bool(_DAEMON_NAME.search(headers.from_name))
    subject_hit = _BOUNCE_SUBJECT.search(headers.subject)
    report = msg.get_content_type() == "multipart/report"
    if msg.get("X-Failed-Recipients"):
        return f"x-failed-recipients: {decode_header_value(msg.get('X-Failed-Recipients'))}"
    if (null_path or daemon or report) and subject_hit:
        return f"bounce-subject: {subject_hit.group(0)}"
    if (null_path and daemon) or (report and daemon):
        return f"bounce-sender: {sender or headers.from_name}"
    return None


def detect(msg: Message, headers: MessageHeaders) -> Bounce | None:
    """A bounce, tried in order: 1. RFC 3464 report, 2. sender/subject evidence with
    X-Failed-Recipients, flufl.bounce, then the notice text for the recipient."""
    # 1. standard delivery-status report
    if msg.get_content_type() == "multipart/report" or msg.is_multipart():
        dsn = from_dsn(msg)
        if dsn is not None and dsn.recipient is not None:
            return dsn
    # 2. non-standard: must look like mail software first
    evidence = is_bounce_like(msg, headers)
    if evidence is None:
        return None
    notice = notice_text(msg)
    judged = headers.subject + "\n" + notice
    transient = bool(_DELAY.search(judged) or _TRANSIENT_CODE.search(notice)) and not bool(
        _PERMANENT_CODE.search(notice)
    )
    failed_header = decode_header_value(msg.get("X-Failed-Recipients"))
    recipient = _address_in(failed_header) if failed_header else None
    reason = evidence
    if recipient is None:
        recipient, flufl_transient = _flufl_recipient(msg)
        if recipient is not None:
            reason = f"{evidence}; flufl.bounce: {recipient}"
            transient = transient or flufl_transient
    if recipient is None:
        ours = {headers.from_address, *headers.to, *headers.delivered_to, headers.return_path}
        for m in _ADDRESS.finditer(notice):
            addr = m.group(0).lower()
            if addr not in ours and not _DAEMON.match(addr):
                recipient = addr
                reason = f"{evidence}; notice-address: {addr}"
                break
    return Bounce(recipient, transient, reason)

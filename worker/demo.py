"""`outreach demo`: the seed campaign end to end, in minutes, on one machine, with no server.

What runs is the real service: `outreach campaign load`, `contacts import` and `campaign start`,
a Celery worker and beat (`outreach worker`, `outreach beat`, as subprocesses on Kombu's
filesystem broker), the LMTP intake listener, and SQLite. Only the world outside is simulated:
an SMTP server that captures every email into a folder (aiosmtpd), and the NGOs, whose replies
are built from the invitations they actually received (quoting them, sent to the personal reply
address) and delivered over LMTP, as an MTA would.

Time is accelerated by the campaign's own schedule, not by a fake clock: the demo writes a copy
of the campaign file whose invitations go out now, whose single reminder round falls due a
minute later and whose deadline follows shortly after; quiet hours are switched off because the
demo may run at night in Tokyo.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import smtplib
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from email import policy
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.utils import format_datetime, formataddr, make_msgid, parseaddr
from enum import StrEnum
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

SLUG = "icc-2024"
CAMPAIGN_FILE = f"{SLUG}.yaml"
CONTACTS_FILE = f"{SLUG}.contacts.csv"
PYTHON_CLI = [sys.executable, "-c", "from worker.cli import main; main()"]


class Scenario(StrEnum):
    SIGN = "sign"
    SIGN_NAMED = "sign with a requested name"
    DECLINE = "decline"
    QUESTION = "question"
    OUT_OF_OFFICE = "out of office"
    BOUNCE = "bounce"
    SILENT = "never answers"


# Who answers what (by invited address); every other invited address signs.
SCENARIOS: dict[str, Scenario] = {
    "office@iraq-inquiry.example": Scenario.DECLINE,
    "hello@space-allies.example": Scenario.QUESTION,
    "info@osaka-ywca.example": Scenario.OUT_OF_OFFICE,
    "info@ngo-jvc.example": Scenario.BOUNCE,  # JVC's second address then gets the invitation
    "kansai-gaza@mail.example": Scenario.SILENT,
    "stop-militarization@mail.example": Scenario.SIGN_NAMED,
}
REQUESTED_NAME = "Action for Stop Militarization (Japan)"
# These reply in ISO-2022-JP, as many Japanese mail clients still do.
ISO_2022_JP = {"info@wam.example", "info@jocs.example"}

SIGN_TEXT = {
    "en": "Yes, we sign.\n\nBest regards,\n{person}",
    "ja": "お世話になっております。\n\n当団体として賛同します。\n"
    "よろしくお願いいたします。\n\n{person}",
}
SIGN_NAMED_TEXT = (
    "Yes, we sign. Please list us as: {name}\n\nThank you for coordinating this.\n{person}"
)
DECLINE_TEXT = {
    "en": "Thank you for the invitation. Unfortunately we cannot sign this letter.\n\n{person}",
    "ja": "ご連絡ありがとうございます。\n\n"
    "誠に申し訳ありませんが、今回は賛同を見送らせていただきます。\n\n{person}",
}
QUESTION_TEXT = {
    "en": "Before we decide: could you tell us which other organisations have signed so far?\n"
    "Will the letter be published?\n\n{person}",
    "ja": "検討にあたり質問です。現時点でどの団体が賛同していますか？\n"
    "書簡は公開されますか？\n\n{person}",
}
OUT_OF_OFFICE_TEXT = {
    "en": "I am out of the office with limited access to email. I will reply when I am back.",
    "ja": "ただいま不在にしております。戻り次第ご連絡いたします。",
}


@dataclass
class Options:
    root: Path
    invite_in: float = 3.0  # seconds from the start of the run
    reminder_at: float = 60.0  # the reminder round falls due this long after the start
    deadline_at: float = 85.0  # the deadline, after the start
    timeout: float = 300.0  # give up (and say what is missing) after this long
    concurrency: int = 2
    quiet: bool = False  # no live display (tests, logs)


@dataclass
class Captured:
    path: Path
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage


@dataclass
class Row:
    organisation: str
    language: str
    address: str
    scenario: str
    outcome: str
    reminded: int


@dataclass
class Result:
    root: Path
    seconds: float
    rows: list[Row]
    expected_signers: list[str]  # organisation keys that signed in the simulation
    signed: list[str]  # organisation keys with an active signature in the database
    requested_name: str
    requested_name_key: str
    final_letters: list[Path]  # captured emails to the ministry
    pdfs: list[Path]
    notices: list[Path]
    mail_dir: Path
    replies_dir: Path
    campaign_state: str
    counts: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        return json.loads(json.dumps(data, default=str))  # type: ignore[no-any-return]


class DemoFailed(RuntimeError):
    """The demo did not reach its end; the message says where it stopped and where to look."""


# --- the outside world: an SMTP server that captures, NGOs that reply -------------------------


class CaptureHandler:
    """aiosmtpd handler: every accepted message becomes `mail/NNN-<recipient>.eml`."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.lock = threading.Lock()
        self.captured: list[Captured] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw: bytes = envelope.original_content or envelope.content
        with self.lock:
            number = len(self.captured) + 1
            first = envelope.rcpt_tos[0] if envelope.rcpt_tos else "unknown"
            path = self.folder / f"{number:03d}-{_safe(first)}.eml"
            path.write_bytes(raw)
            parsed = BytesParser(policy=policy.default).parsebytes(raw)
            assert isinstance(parsed, EmailMessage)
            self.captured.append(
                Captured(path, envelope.mail_from, list(envelope.rcpt_tos), parsed)
            )
        return "250 Message accepted for delivery"

    def snapshot(self) -> list[Captured]:
        with self.lock:
            return list(self.captured)


def _safe(address: str) -> str:
    return "".join(c if c.isalnum() or c in "@.-_+" else "_" for c in address)[:80]


def _text_of(message: EmailMessage) -> str:
    body = message.get_body(("plain",))
    if body is None:
        return ""
    content = body.get_content()
    return str(content)


def _wrap(line: str, columns: int = 72) -> list[str]:
    """Split a line as a mail client does when it quotes: at most `columns` display columns."""
    import unicodedata

    pieces: list[str] = []
    current, width = "", 0
    for char in line:
        w = 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1
        if width + w > columns:
            pieces.append(current)
            current, width = "", 0
        current += char
        width += w
    pieces.append(current)
    return pieces


def _quote(message: EmailMessage, lang: str) -> str:
    when = message.get("Date", "")
    sender = message.get("From", "")
    lines = [piece for line in _text_of(message).splitlines() for piece in _wrap(line)]
    quoted = "\n".join("> " + line if line else ">" for line in lines)
    if lang == "ja":
        try:
            from email.utils import parsedate_to_datetime

            local = parsedate_to_datetime(str(when)).astimezone(ZoneInfo("Asia/Tokyo"))
            stamp = f"{local.year}年{local.month}月{local.day}日 {local:%H:%M}"
        except (TypeError, ValueError):
            stamp = str(when)
        return f"{stamp} {sender}:\n\n{quoted}\n"
    return f"On {when}, {sender} wrote:\n\n{quoted}\n"


def build_reply(
    invitation: Captured, scenario: Scenario, lang: str, now: datetime, person: str
) -> tuple[str, list[str], bytes]:
    """The NGO's answer to an invitation it received: (envelope from, recipients, bytes)."""
    msg = invitation.message
    contact = parseaddr(str(msg["To"]))[1]
    reply_to = parseaddr(str(msg.get("Reply-To") or msg["From"]))[1]
    domain = contact.rsplit("@", 1)[-1]
    subject = str(msg.get("Subject", ""))

    if scenario is Scenario.BOUNCE:
        return _bounce(invitation, contact, now)

    reply = EmailMessage()
    reply["From"] = formataddr((person, contact))
    reply["To"] = str(msg.get("Reply-To") or msg["From"])
    reply["Date"] = format_datetime(now)
    reply["Message-ID"] = make_msgid(domain=domain)
    reply["In-Reply-To"] = str(msg["Message-ID"])
    reply["References"] = str(msg["Message-ID"])
    reply["MIME-Version"] = "1.0"
    if scenario is Scenario.OUT_OF_OFFICE:
        reply["Subject"] = ("自動応答: " if lang == "ja" else "Automatic reply: ") + subject
        reply["Auto-Submitted"] = "auto-replied"
        reply["X-Autoreply"] = "yes"
        reply.set_content(OUT_OF_OFFICE_TEXT[lang] + "\n")
        return contact, [reply_to], bytes(reply)
    reply["Subject"] = "Re: " + subject
    if scenario is Scenario.SIGN:
        answer = SIGN_TEXT[lang]
    elif scenario is Scenario.SIGN_NAMED:
        answer = SIGN_NAMED_TEXT.replace("{name}", REQUESTED_NAME)
    elif scenario is Scenario.DECLINE:
        answer = DECLINE_TEXT[lang]
    else:
        answer = QUESTION_TEXT[lang]
    text = answer.replace("{person}", person) + "\n\n" + _quote(msg, lang)
    try:
        if contact in ISO_2022_JP:
            reply.set_content(text, charset="iso-2022-jp", cte="7bit")
        else:
            reply.set_content(text, charset="utf-8")
    except (UnicodeEncodeError, LookupError):  # a character JIS X 0208 lacks
        reply.set_content(text, charset="utf-8")
    return contact, [reply_to], bytes(reply)


def _bounce(invitation: Captured, contact: str, now: datetime) -> tuple[str, list[str], bytes]:
    """An RFC 3464 delivery status notification (as Postfix writes it), to the VERP address."""
    mta = "mx." + contact.rsplit("@", 1)[-1]
    boundary = make_msgid(domain=mta).strip("<>").replace("@", "=_")
    original = invitation.message
    original_headers = "".join(
        f"{k}: {v}\n"
        for k, v in original.items()
        if k.lower() in {"from", "to", "subject", "message-id", "date", "reply-to"}
    )
    diagnostic = (
        f"550 5.1.1 <{contact}>: Recipient address rejected: User unknown in virtual mailbox table"
    )
    text = (
        f"From: Mail Delivery System <MAILER-DAEMON@{mta}>\n"
        f"To: {invitation.mail_from}\n"
        "Subject: Undelivered Mail Returned to Sender\n"
        f"Date: {format_datetime(now)}\n"
        f"Message-ID: {make_msgid(domain=mta)}\n"
        "Auto-Submitted: auto-replied\n"
        "MIME-Version: 1.0\n"
        f'Content-Type: multipart/report; report-type=delivery-status; boundary="{boundary}"\n'
        "\n"
        "This is a MIME-encapsulated message.\n\n"
        f"--{boundary}\n"
        "Content-Type: text/plain; charset=us-ascii\n\n"
        f"This is the mail system at host {mta}.\n\n"
        "I'm sorry to have to inform you that your message could not\n"
        "be delivered to one or more recipients.\n\n"
        f"<{contact}>: host {mta} said: {diagnostic}\n\n"
        f"--{boundary}\n"
        "Content-Type: message/delivery-status\n\n"
        f"Reporting-MTA: dns; {mta}\n"
        f"Arrival-Date: {format_datetime(now)}\n\n"
        f"Final-Recipient: rfc822; {contact}\n"
        f"Original-Recipient: rfc822;{contact}\n"
        "Action: failed\n"
        "Status: 5.1.1\n"
        f"Remote-MTA: dns; {mta}\n"
        f"Diagnostic-Code: smtp; {diagnostic}\n\n"
        f"--{boundary}\n"
        "Content-Type: text/rfc822-headers\n\n"
        f"{original_headers}\n"
        f"--{boundary}--\n"
    )
    raw = text.encode("ascii", "replace")
    return "", [invitation.mail_from], raw


# --- processes ---------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_port(port: int, proc: subprocess.Popen[bytes] | None, what: str, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise DemoFailed(f"{what} exited with {proc.returncode}; see {log}")
        try:
            with socket.create_connection(("127.0.0.1", port), 0.2):
                return
        except OSError:
            time.sleep(0.1)
    raise DemoFailed(f"{what} did not listen on port {port} within 60s; see {log}")


@contextmanager
def _processes() -> Iterator[Callable[[list[str], Path], subprocess.Popen[bytes]]]:
    """Start subprocesses in their own process groups; stop every one of them on the way out."""
    started: list[subprocess.Popen[bytes]] = []
    handles: list[Any] = []

    def start(argv: list[str], log: Path) -> subprocess.Popen[bytes]:
        handle = log.open("ab")
        handles.append(handle)
        proc = subprocess.Popen(
            argv,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=os.environ.copy(),
        )
        started.append(proc)
        return proc

    try:
        yield start
    finally:
        for proc in started:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in started:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
        for handle in handles:
            handle.close()


def run_cli(args: list[str], log: Path) -> str:
    """Run an `outreach` command as a person would; its output goes to the log and is returned."""
    done = subprocess.run(
        [*PYTHON_CLI, *args], capture_output=True, text=True, env=os.environ.copy(), check=False
    )
    with log.open("a", encoding="utf-8") as handle:
        handle.write(f"$ outreach {' '.join(args)}\n{done.stdout}{done.stderr}\n")
    if done.returncode != 0:
        raise DemoFailed(f"`outreach {' '.join(args)}` failed:\n{done.stdout}{done.stderr}")
    return done.stdout.strip()


# --- the run -------------------------------------------------------------------------------------


def write_demo_campaign(source_dir: Path, dest: Path, start: datetime, options: Options) -> Path:
    """A copy of the seed campaign whose schedule runs now, in accelerated time."""
    dest.mkdir(parents=True, exist_ok=True)
    definition = yaml.safe_load((source_dir / CAMPAIGN_FILE).read_text(encoding="utf-8"))
    for name in definition.get("letter", {}).values():
        shutil.copy(source_dir / name, dest / name)
    shutil.copy(source_dir / CONTACTS_FILE, dest / CONTACTS_FILE)
    tz = ZoneInfo(definition.get("timezone", "UTC"))
    deadline = start + timedelta(seconds=options.deadline_at)
    reminder_lead = timedelta(seconds=options.deadline_at - options.reminder_at)
    definition["schedule"] = {
        "invite_at": (start + timedelta(seconds=options.invite_in)).astimezone(tz).isoformat(),
        "deadline": deadline.astimezone(tz).isoformat(),
        "reminders_before_deadline": [f"PT{int(reminder_lead.total_seconds())}S"],
        "quiet_hours": {"start": "00:00", "end": "00:00"},  # equal: no quiet hours
        # The real default is 20 hours; in accelerated time the reminder round follows the
        # invitations by under a minute.
        "min_reminder_gap": "PT20S",
    }
    path = dest / CAMPAIGN_FILE
    header = "# Written by `outreach demo`: the seed campaign with its schedule moved to now.\n"
    path.write_text(
        header + yaml.safe_dump(definition, allow_unicode=True, sort_keys=False), encoding="utf-8"
    )
    return path


def demo_environment(root: Path, smtp_port: int, lmtp_port: int) -> dict[str, str]:
    import secrets

    return {
        "OUTREACH_DATA_DIR": str(root / "data"),
        "OUTREACH_DATABASE_URL": "",
        "OUTREACH_BROKER_URL": "",
        "OUTREACH_REDIS_URL": "",
        "OUTREACH_SMTP_URL": f"smtp://127.0.0.1:{smtp_port}",
        "OUTREACH_IMAP_URL": "",
        "OUTREACH_SECRET_KEY": secrets.token_urlsafe(32),
        "OUTREACH_SCAN_INTERVAL_SECONDS": "1",
        "OUTREACH_IMAP_POLL_SECONDS": "5",
        "OUTREACH_LMTP_HOST": "127.0.0.1",
        "OUTREACH_LMTP_PORT": str(lmtp_port),
        "OUTREACH_LOG_JSON": "true",
        "OUTREACH_OUTBOX_RETRY_BASE_SECONDS": "2",
    }


class Demo:
    def __init__(self, options: Options, source_dir: Path, report: Callable[[str], None]) -> None:
        self.options = options
        self.source_dir = source_dir
        self.report = report  # one line per event, for the live display
        self.root = options.root
        self.mail_dir = self.root / "mail"
        self.replies_dir = self.root / "replies"
        self.logs = self.root / "logs"
        self.answered: dict[str, Scenario] = {}  # invited address -> scenario acted out
        self.events: list[str] = []
        self.phase = "starting"
        self.started = datetime.now(UTC)
        self.capture = CaptureHandler(self.mail_dir)
        self.seen = 0  # captured emails already looked at
        self.kinds: dict[str, str] = {}  # Message-ID -> outbox kind

    def event(self, text: str) -> None:
        stamp = (datetime.now(UTC) - self.started).total_seconds()
        line = f"{stamp:5.0f}s  {text}"
        self.events.append(line)
        self.report(line)

    def prepare(self) -> None:
        if self.root.exists():
            shutil.rmtree(self.root)
        for folder in (self.mail_dir, self.replies_dir, self.logs, self.root / "data"):
            folder.mkdir(parents=True, exist_ok=True)

    def run(self, tick: Callable[[Demo], None]) -> Result:
        from aiosmtpd.controller import Controller

        from worker.settings import reset_settings

        self.prepare()
        smtp_port, lmtp_port = _free_port(), _free_port()
        os.environ.update(demo_environment(self.root, smtp_port, lmtp_port))
        reset_settings()
        from worker.db import reset_engines

        reset_engines()
        controller = Controller(self.capture, hostname="127.0.0.1", port=smtp_port)
        controller.start()
        try:
            with _processes() as start:
                return self._run(start, tick, lmtp_port)
        finally:
            controller.stop()
            reset_engines()

    def _run(
        self,
        start: Callable[[list[str], Path], subprocess.Popen[bytes]],
        tick: Callable[[Demo], None],
        lmtp_port: int,
    ) -> Result:
        cli_log = self.logs / "commands.log"
        self.phase = "setting up"
        run_cli(["db", "upgrade"], cli_log)
        self.event("database created (SQLite)")
        # The schedule counts from now; the worker and beat start first so the clock is fair.
        worker_log, beat_log, lmtp_log = (
            self.logs / n for n in ("worker.log", "beat.log", "lmtp.log")
        )
        worker = start(
            [*PYTHON_CLI, "worker", "--queues", "sending,scheduling,intake,delivery",
             "--concurrency", str(self.options.concurrency), "--loglevel", "WARNING"],
            worker_log,
        )  # fmt: skip
        beat = start([*PYTHON_CLI, "beat", "--loglevel", "WARNING"], beat_log)
        lmtp = start([*PYTHON_CLI, "intake", "lmtp"], lmtp_log)
        _wait_port(lmtp_port, lmtp, "the LMTP listener", lmtp_log)
        self.event(f"worker, beat and LMTP listener running (logs in {self.logs})")

        self.started = datetime.now(UTC)
        campaign_file = write_demo_campaign(
            self.source_dir, self.root / "campaign", self.started, self.options
        )
        run_cli(["campaign", "load", str(campaign_file)], cli_log)
        run_cli(["contacts", "import", SLUG, str(campaign_file.parent / CONTACTS_FILE)], cli_log)
        run_cli(["campaign", "start", SLUG], cli_log)
        self.event(
            "campaign loaded and started: invitations now, reminders at "
            f"+{self.options.reminder_at:.0f}s, deadline at +{self.options.deadline_at:.0f}s"
        )
        self.phase = "inviting"

        limit = time.monotonic() + self.options.timeout
        approved = False
        while True:
            for proc, name, log in ((worker, "worker", worker_log), (beat, "beat", beat_log)):
                if proc.poll() is not None:
                    raise DemoFailed(f"the {name} exited with {proc.returncode}; see {log}")
            self._answer_new_invitations(lmtp_port)
            state = self._campaign_state()
            if state == "awaiting_approval" and not approved:
                self.phase = "approving"
                run_cli(["campaign", "approve", SLUG, "--yes", "--by", "demo lead"], cli_log)
                approved = True
                self.event("the lead approved the final letter (`outreach campaign approve`)")
            self.phase = self._phase(state)
            tick(self)
            if state == "delivered" and self._mail_settled():
                break
            if time.monotonic() > limit:
                raise DemoFailed(
                    f"the demo did not finish within {self.options.timeout:.0f}s (campaign is "
                    f"{state}); see the logs in {self.logs} and `OUTREACH_DATA_DIR="
                    f"{self.root / 'data'} outreach status`"
                )
            time.sleep(0.5)
        self.phase = "done"
        tick(self)
        return self._result()

    # -- pieces of the loop --

    def _campaign_state(self) -> str:
        from sqlalchemy import select

        from worker.db import session_scope
        from worker.models import Campaign

        with session_scope() as session:
            state = session.scalar(select(Campaign.state).where(Campaign.slug == SLUG))
        return state or "missing"

    def _phase(self, state: str) -> str:
        elapsed = (datetime.now(UTC) - self.started).total_seconds()
        if state == "open":
            if elapsed < self.options.reminder_at:
                return "waiting for replies"
            return "reminder round, then the deadline"
        return {
            "closing": "deadline passed: assembling the final letter",
            "awaiting_approval": "final letter waits for approval",
            "delivering": "delivering the final letter",
            "delivered": "sending the 'delivered' notices",
        }.get(state, state)

    def _mail_settled(self) -> bool:
        from sqlalchemy import func, select

        from worker.db import session_scope
        from worker.models import OutboundMessage

        with session_scope() as session:
            waiting = session.scalar(
                select(func.count()).where(
                    OutboundMessage.state.in_(["queued", "retry", "sending"])
                )
            )
        return not waiting

    def _invitations_by_address(self) -> dict[str, tuple[str, str, str, str | None]]:
        """address -> (org key, language, English name, person name) for invited contacts."""
        from sqlalchemy import select

        from worker.db import session_scope
        from worker.models import Contact, Invitation, Organisation

        with session_scope() as session:
            rows = session.execute(
                select(Contact.email, Organisation.key, Invitation.language,
                       Organisation.name_en, Contact.person_name)
                .join(Invitation, Invitation.contact_id == Contact.id)
                .join(Organisation, Organisation.id == Contact.organisation_id)
            ).all()  # fmt: skip
        return {r[0].lower(): (r[1], r[2], r[3] or r[1], r[4]) for r in rows}

    def _new_invitations(self) -> list[Captured]:
        """Invitations captured since the last look (the outbox says which emails they are)."""
        from sqlalchemy import select

        from worker.db import session_scope
        from worker.models import OutboundMessage

        captured = self.capture.snapshot()
        fresh, self.seen = captured[self.seen :], len(captured)
        if not fresh:
            return []
        ids = {str(c.message.get("Message-ID", "")).strip(): c for c in fresh}
        with session_scope() as session:
            kinds = dict(
                session.execute(
                    select(OutboundMessage.message_id, OutboundMessage.kind).where(
                        OutboundMessage.message_id.in_(list(ids))
                    )
                )
                .tuples()
                .all()
            )
        self.kinds.update(kinds)
        return [c for m, c in ids.items() if kinds.get(m) == "invitation"]

    def _answer_new_invitations(self, lmtp_port: int) -> None:
        invitations = self._new_invitations()
        if not invitations:
            return
        known = self._invitations_by_address()
        for item in invitations:
            address = parseaddr(str(item.message["To"]))[1].lower()
            if address in self.answered or address not in known:
                continue
            _key, lang, name, person = known[address]
            scenario = SCENARIOS.get(address, Scenario.SIGN)
            self.answered[address] = scenario
            if scenario is Scenario.SILENT:
                self.event(f"{name}: invitation received; will never answer")
                continue
            mail_from, rcpts, raw = build_reply(
                item, scenario, lang, datetime.now(UTC), person or name
            )
            number = len(self.answered)
            path = self.replies_dir / f"{number:03d}-{_safe(address)}-{scenario.name.lower()}.eml"
            path.write_bytes(raw)
            wire = raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")  # SMTP lines end CRLF
            with smtplib.LMTP("127.0.0.1", lmtp_port, timeout=30) as lmtp:
                lmtp.sendmail(mail_from, rcpts, wire)
            self.event(f"{name} replies: {scenario.value} ({lang})")

    def _result(self) -> Result:
        from sqlalchemy import select

        from worker.db import session_scope
        from worker.models import Campaign, Invitation, Organisation, OutboundMessage, Signature

        captured = self.capture.snapshot()
        by_message_id = {str(c.message.get("Message-ID", "")).strip(): c for c in captured}
        rows: list[Row] = []
        with session_scope() as session:
            campaign = session.scalars(select(Campaign).where(Campaign.slug == SLUG)).one()
            invitations = session.scalars(
                select(Invitation)
                .where(Invitation.campaign_id == campaign.id)
                .order_by(Invitation.id)
            ).all()
            for inv in invitations:
                address = inv.contact.email.lower()
                rows.append(
                    Row(
                        organisation=inv.organisation.name_en or inv.organisation.key,
                        language=inv.language,
                        address=inv.contact.email,
                        scenario=(
                            self.answered[address].value if address in self.answered else "-"
                        ),
                        outcome=inv.state,
                        reminded=inv.reminders_sent,
                    )
                )
            signed = sorted(
                session.scalars(
                    select(Organisation.key)
                    .join(Signature, Signature.organisation_id == Organisation.id)
                    .where(Signature.campaign_id == campaign.id, Signature.state == "active")
                )
            )
            outbox = session.execute(
                select(
                    OutboundMessage.kind, OutboundMessage.message_id, OutboundMessage.state
                ).where(OutboundMessage.campaign_id == campaign.id)
            ).all()
            known = self._invitations_by_address()
            state = campaign.state
        expected = sorted(
            {
                known[a][0]
                for a, s in self.answered.items()
                if s in (Scenario.SIGN, Scenario.SIGN_NAMED)
            }
        )
        counts: dict[str, int] = {}
        for kind, _, row_state in outbox:
            key = f"{kind}:{row_state}"
            counts[key] = counts.get(key, 0) + 1
        final = [
            by_message_id[m].path
            for k, m, _ in outbox
            if k == "final_letter" and m in by_message_id
        ]
        notices = [
            by_message_id[m].path
            for k, m, _ in outbox
            if k == "delivered_notice" and m in by_message_id
        ]
        pdf_dir = self.root / "pdf"
        pdfs = _extract_pdfs(
            [by_message_id[m] for k, m, _ in outbox if k == "final_letter" and m in by_message_id],
            pdf_dir,
        )
        named_key = next(
            (known[a][0] for a, s in self.answered.items() if s is Scenario.SIGN_NAMED), ""
        )
        result = Result(
            root=self.root,
            seconds=(datetime.now(UTC) - self.started).total_seconds(),
            rows=rows,
            expected_signers=expected,
            signed=signed,
            requested_name=REQUESTED_NAME,
            requested_name_key=named_key,
            final_letters=final,
            pdfs=pdfs,
            notices=notices,
            mail_dir=self.mail_dir,
            replies_dir=self.replies_dir,
            campaign_state=state,
            counts=counts,
        )
        (self.root / "summary.json").write_text(
            json.dumps(result.to_json(), ensure_ascii=False, indent=2), encoding="utf-8"
        )
        return result


def _extract_pdfs(items: list[Captured], folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    for item in items:
        for part in item.message.iter_attachments():
            assert isinstance(part, Message)
            if part.get_content_type() == "application/pdf":
                name = part.get_filename() or f"letter-{len(paths) + 1}.pdf"
                path = folder / Path(name).name
                payload = part.get_payload(decode=True)
                if isinstance(payload, bytes):
                    path.write_bytes(payload)
                    paths.append(path)
    return paths

"""One demo run: start the service, act out the NGOs' answers, check the end state."""

from __future__ import annotations

import json
import os
import shutil
import smtplib
import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime
from email.message import Message
from email.utils import parseaddr
from pathlib import Path

from worker.demo.processes import (
    demo_environment,
    free_port,
    processes,
    run_cli,
    wait_port,
    write_demo_campaign,
)
from worker.demo.scenario import (
    CONTACTS_FILE,
    PYTHON_CLI,
    REQUESTED_NAME,
    SCENARIOS,
    SLUG,
    Captured,
    DemoFailed,
    Options,
    Result,
    Row,
    Scenario,
)
from worker.demo.world import CaptureHandler, build_reply, safe_name


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
        smtp_port, lmtp_port = free_port(), free_port()
        os.environ.update(demo_environment(self.root, smtp_port, lmtp_port))
        reset_settings()
        from worker.db import reset_engines

        reset_engines()
        controller = Controller(self.capture, hostname="127.0.0.1", port=smtp_port)
        controller.start()
        try:
            with processes() as start:
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
        wait_port(lmtp_port, lmtp, "the LMTP listener", lmtp_log)
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
            stem = f"{number:03d}-{safe_name(address)}-{scenario.name.lower()}"
            path = self.replies_dir / f"{stem}.eml"
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

"""The web console in a real browser (Debian's chromium, headless, driven by Playwright) over a
real running service: worker and beat on the filesystem broker, SQLite, the LMTP listener, the
test SMTP sink. A lead creates a campaign from the form with a CSV holding a bad row, starts it,
decides a review item from a real reply delivered by LMTP, approves the letter; the ministry
gets it. A viewer cannot approve, a POST without the CSRF token is refused, a reply's <script>
stays text. Screenshots (dashboard, review, letter; en and ja) go to out/screenshots/."""

from __future__ import annotations

import os
import shutil
import smtplib
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from support.smtp_sink import SmtpSink

CHROMIUM = Path("/usr/bin/chromium")
REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "out" / "screenshots"
CLI = [sys.executable, "-c", "from worker.cli import main; main()"]
LEAD = ("lead@hrn.example", "lead password 2024")
VIEWER = ("viewer@hrn.example", "viewer password 2024")
HOSTILE = "<script>alert('pwned')</script>"
DEADLINE_IN = timedelta(seconds=28)  # long enough for invitations, replies and one decision
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip
CSV = (
    "org_id,name_en,name_ja,reading,language,email,person_name,domains,timezone,coordinator\n"
    "peace-net,Peace Network,平和ネットワーク,へいわねっとわーく,en,office@peace.example,,"
    "peace.example,,no\n"
    "kodomo,Children First,こども第一,こどもだいいち,ja,info@kodomo.example,,kodomo.example,,no\n"
    "broken,Broken Row,,,en,not-an-email,,,,no\n"
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="chromium is not installed (scripts/install-system-deps.sh installs it)",
    ),
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait(check: Callable[[], Any], timeout: float, what: str) -> Any:
    limit = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > limit:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.2)


class Service:
    """The service as an operator runs it: CLI commands and long-running processes."""

    def __init__(self, root: Path, sink: SmtpSink) -> None:
        self.root = root
        self.logs = root / "logs"
        self.logs.mkdir(parents=True)
        self.lmtp_port, self.web_port = _free_port(), _free_port()
        keep = {k: v for k, v in os.environ.items() if not k.startswith("OUTREACH_")}
        self.env = {
            **keep,
            "OUTREACH_TEST_REDIS_URL": os.environ.get("OUTREACH_TEST_REDIS_URL", ""),
            "OUTREACH_DATA_DIR": str(root / "data"),
            "OUTREACH_CAMPAIGNS_DIR": str(root / "campaigns"),
            "OUTREACH_SMTP_URL": sink.url,
            "OUTREACH_SECRET_KEY": "browser-test-secret-key",
            "OUTREACH_SCAN_INTERVAL_SECONDS": "1",
            "OUTREACH_LMTP_PORT": str(self.lmtp_port),
            "OUTREACH_WEB_PORT": str(self.web_port),
            "OUTREACH_PUBLIC_URL": "https://console.hrn.example",
            "OUTREACH_OUTBOX_RETRY_BASE_SECONDS": "1",
        }
        self.running: list[subprocess.Popen[bytes]] = []

    def cli(self, *args: str, stdin: str | None = None) -> str:
        done = subprocess.run([*CLI, *args], env=self.env, cwd=self.root, input=stdin,
                              capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
        assert done.returncode == 0, f"outreach {' '.join(args)}:\n{done.stdout}{done.stderr}"
        return done.stdout

    def prepare_database(self) -> None:
        """`outreach db upgrade` and a viewer account, in this process (it saves seconds)."""
        from worker import migrate
        from worker.actions.users import add_user
        from worker.db import reset_engines, session_scope

        (self.root / "data").mkdir(parents=True, exist_ok=True)
        url = f"sqlite:///{self.root / 'data' / 'outreach.sqlite3'}"
        migrate.upgrade(url)
        with session_scope(url) as session:
            add_user(session, VIEWER[0], "viewer", VIEWER[1], now=datetime.now(UTC))
        reset_engines()

    def start(self, name: str, *args: str) -> None:
        with (self.logs / f"{name}.log").open("ab") as log:
            self.running.append(subprocess.Popen(
                [*CLI, *args], env=self.env, cwd=self.root, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True))  # fmt: skip

    def wait_port(self, port: int) -> None:
        def listening() -> bool:
            try:
                with socket.create_connection(("127.0.0.1", port), 0.2):
                    return True
            except OSError:
                return False

        _wait(listening, 30, f"a listener on port {port} (logs in {self.logs})")

    def stop(self) -> None:
        import signal

        for process in self.running:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.running:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(5)


@pytest.fixture
def service(tmp_path: Path) -> Iterator[tuple[Service, SmtpSink]]:
    sink = SmtpSink(tmp_path / "sink").start()
    service = Service(tmp_path / "run", sink)
    try:
        service.prepare_database()
        service.start("worker", "worker", "--queues", "sending,scheduling,intake,delivery",
                      "--concurrency", "1", "--beat", "--loglevel", "WARNING")  # fmt: skip
        service.start("lmtp", "intake", "lmtp")
        service.start("web", "web")
        # The lead's account through the command an administrator types (password on stdin).
        service.cli("user", "add", LEAD[0], "--role", "lead", stdin=LEAD[1] + "\n")
        service.wait_port(service.lmtp_port)
        service.wait_port(service.web_port)
        yield service, sink
    finally:
        service.stop()
        sink.stop()
        # The processes' logs stay beside the screenshots (git-ignored) for a failed run.
        shutil.rmtree(SCREENSHOTS.parent / "browser-logs", ignore_errors=True)
        shutil.copytree(service.logs, SCREENSHOTS.parent / "browser-logs")


def _reply(invitation: bytes, body: str) -> bytes:
    """A person's answer to an invitation: to its Reply-To, from the invited address."""
    original = message_from_bytes(invitation, policy=policy.default)
    msg = EmailMessage()
    msg["From"] = str(original["To"])
    msg["To"] = str(original["Reply-To"])
    msg["Subject"] = "Re: " + str(original["Subject"])
    msg["In-Reply-To"] = msg["References"] = str(original["Message-ID"])
    msg["Date"] = format_datetime(datetime.now(UTC))
    msg["Message-ID"] = make_msgid(domain="ngo.example")
    msg.set_content(body)
    return msg.as_bytes()


def _deliver_lmtp(port: int, raw: bytes) -> None:
    msg = message_from_bytes(raw, policy=policy.default)
    with smtplib.LMTP("127.0.0.1", port) as lmtp:
        lmtp.sendmail(msg["From"].addresses[0].addr_spec, [msg["To"].addresses[0].addr_spec], raw)


def _fill_form(page: Any, slug: str) -> None:
    tz = ZoneInfo("Asia/Tokyo")
    now = datetime.now(tz)
    fields = {
        "slug": slug, "title_en": "Protect the ICC", "title_ja": "ICCの独立を守る",
        "timezone": "Asia/Tokyo",
        "letter_en": "# Protect the ICC\n\nWe ask the government to act.\n",
        "letter_ja": "# ICCの独立を守る\n\n政府に行動を求めます。\n",
        "coordinators": "coordinator@hrn.example | Human Rights Now | ヒューマン・ライツ・ナウ | "
                        "ひゅーまんらいつなう",
        "minister_en": "Ms. Minister", "minister_ja": "外務大臣殿", "minister_email":
        "minister@mofa.example", "sender_en": "Human Rights Now",
        "sender_ja": "ヒューマン・ライツ・ナウ", "sender_address": "signon@hrn.example",
        "reply_domain": "hrn.example", "lead_email": "coordinator@hrn.example",
        "invite_at": now.strftime("%Y-%m-%dT%H:%M:%S"),
        "deadline": (now + DEADLINE_IN).strftime("%Y-%m-%dT%H:%M:%S"),
        "reminders": "", "quiet_start": "", "quiet_end": "",
    }  # fmt: skip
    for name, value in fields.items():
        page.fill(f"#f-{name}", value)


def _shot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def test_a_lead_runs_a_campaign_in_the_browser(
    service: tuple[Service, SmtpSink], tmp_path: Path
) -> None:
    from playwright.sync_api import expect, sync_playwright

    svc, sink = service
    base = f"http://127.0.0.1:{svc.web_port}"
    slug = "browser-icc"
    dialogs: list[str] = []
    console: list[str] = []  # errors the page logged (a CSP violation would show here)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            lead = browser.new_context(viewport={"width": 1280, "height": 900})
            page = lead.new_page()
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            page.on("console", lambda m: console.append(m.text) if m.type == "error" else None)

            # 1. Log in with the keyboard only.
            page.goto(base + "/")
            page.fill("input[name=email]", LEAD[0])
            page.fill("input[name=password]", LEAD[1])
            page.keyboard.press("Enter")
            expect(page.locator("h1")).to_have_text("Campaigns")
            # 2. The form, with a CSV whose third row is bad: it is listed, the others imported.
            page.click("text=New campaign")
            _fill_form(page, slug)
            upload = {"name": "contacts.csv", "mimeType": "text/csv", "buffer": CSV.encode()}
            page.set_input_files("#f-contacts", files=[upload])
            page.click("#create")
            problems = page.locator("#row-problems")
            expect(problems).to_contain_text("row 4")
            expect(problems).to_contain_text("not-an-email")
            expect(page.locator("#import-summary")).to_contain_text("invitations +2")
            assert (svc.root / "campaigns" / f"{slug}.yaml").exists()
            # 3. Start it: both invitations reach the SMTP sink, with RFC 8058 headers.
            page.click(f"text=Open: {slug}")
            page.click("button[value=start]")
            expect(page.locator(".state").first).to_have_text("open")
            invitations = _wait(lambda: [m for m in sink.messages()
                                         if "coordinator@hrn.example" not in m["rcpt_tos"]
                                         and "minister@mofa.example" not in m["rcpt_tos"]]
                                if len(sink.messages()) >= 2 else None, 30, "two invitations")
            raw = {m["rcpt_tos"][0]: sink.raw(m) for m in invitations}
            assert set(raw) == {"office@peace.example", "info@kodomo.example"}
            head = raw["office@peace.example"].split(b"\r\n\r\n")[0].decode()
            assert "List-Unsubscribe-Post: List-Unsubscribe=One-Click" in head
            # 4. Real replies through LMTP: one signs outright, one is conditional (review)
            #    and carries a script tag.
            _deliver_lmtp(svc.lmtp_port, _reply(raw["info@kodomo.example"], "賛同します。"))
            _deliver_lmtp(svc.lmtp_port, _reply(
                raw["office@peace.example"], f"We would sign if our board agrees. {HOSTILE}"))
            page.goto(f"{base}/c/{slug}")
            # The live part refreshes itself (HTMX): no reload here.
            expect(page.locator("[data-figure=review_open] .n")).to_have_text("1", timeout=30_000)
            expect(page.locator("[data-figure=signed] .n")).to_have_text("1", timeout=30_000)
            _shot(page, "dashboard-en")
            page.goto(f"{base}/lang/ja")
            page.goto(f"{base}/c/{slug}")
            _shot(page, "dashboard-ja")
            # 5. The review screen: the reply's script is text; decided with the keyboard.
            page.goto(f"{base}/c/{slug}/review")
            _shot(page, "review-ja")
            page.goto(f"{base}/lang/en")
            page.goto(f"{base}/c/{slug}/review")
            expect(page.locator("pre.body")).to_contain_text(HOSTILE)
            assert page.locator("main script").count() == 0
            _shot(page, "review-en")
            # A viewer sees it too but cannot decide; a POST without the token is refused.
            viewer = browser.new_context(viewport={"width": 390, "height": 844}).new_page()
            viewer.goto(base + "/login")
            viewer.fill("input[name=email]", VIEWER[0])
            viewer.fill("input[name=password]", VIEWER[1])
            viewer.click("button[type=submit]")
            viewer.goto(page.url)
            expect(viewer.locator("button[name=outcome]")).to_have_count(0)
            viewer.goto(f"{base}/c/{slug}")
            _shot(viewer, "dashboard-phone-viewer")  # a phone-width screen, a viewer's rights
            viewer.goto(page.url)
            forged = page.request.post(page.url, form={"outcome": "sign"})
            assert forged.status == 403
            page.fill("input[name=name]", "Peace Network (Tokyo)")
            page.locator("body").click(position={"x": 5, "y": 5})  # focus off the text field
            page.keyboard.press("1")  # 1 = sign
            expect(page.locator("#review-empty")).to_be_visible()
            # 6. After the deadline the letter waits for approval, with both signatories.
            page.goto(f"{base}/c/{slug}/letter")
            def approvable() -> bool:
                time.sleep(1)
                page.reload()
                return page.locator("#approve").count() == 1

            _wait(approvable, 70, "the letter to be ready for approval")
            expect(page.locator("#list-count")).to_have_text("2")
            expect(page.locator(".count[data-lang=en]")).to_have_text("2")
            expect(page.locator(".count[data-lang=ja]")).to_have_text("2")
            expect(page.locator("#approve")).to_contain_text("minister@mofa.example")
            _shot(page, "letter-en")
            page.goto(f"{base}/lang/ja")
            page.goto(f"{base}/c/{slug}/letter")
            _shot(page, "letter-ja")
            page.goto(f"{base}/lang/en")
            # The viewer has no button, and a POST with the viewer's own token is refused.
            viewer.goto(f"{base}/c/{slug}/letter")
            expect(viewer.locator("#approve")).to_have_count(0)
            token = viewer.locator("input[name=csrf_token]").first.get_attribute("value")
            refused = viewer.request.post(f"{base}/c/{slug}/approve",
                                          form={"csrf_token": token or "", "message_sha256": "x"})
            assert refused.status == 403
            no_token = page.request.post(f"{base}/c/{slug}/approve", form={"message_sha256": "x"})
            assert no_token.status == 403
            # 7. Approve: the ministry gets the letter once, naming both organisations.
            page.goto(f"{base}/c/{slug}/letter")
            page.wait_for_load_state("load")  # the two letter frames too
            page.focus("#approve")
            page.keyboard.press("Enter")  # the approval, from the keyboard
            try:
                expect(page.locator("h1")).to_contain_text("deliver", timeout=20_000)
            except AssertionError:
                raise AssertionError(f"{console}\n" + page.locator("main").inner_text()) from None
            expect(page.locator(".ok")).to_contain_text(f"web:{LEAD[0]}")
            final = _wait(lambda: [m for m in sink.messages()
                                   if "minister@mofa.example" in m["rcpt_tos"]], 30,
                          "the final letter at the ministry")  # fmt: skip
            assert len(final) == 1
            letter = message_from_bytes(sink.raw(final[0]), policy=policy.default)
            pdfs = [p.get_filename() for p in letter.iter_attachments()]
            assert sorted(pdfs) == [f"{slug}-letter-en.pdf", f"{slug}-letter-ja.pdf"]
            expect(page.locator(".ok")).to_contain_text(f"web:{LEAD[0]}")
        finally:
            browser.close()
    assert dialogs == [], f"a script ran in the page: {dialogs}"
    assert not [m for m in console if "Content Security Policy" in m], console

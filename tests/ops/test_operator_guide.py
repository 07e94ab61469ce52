"""The README's operator's guide: its worked example runs as written against a real SMTP server
and a real Dovecot (only their ports and the password are the test's own), with the mailbox
user written the way the guide says (`signon%40hrn.example`)."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.dovecot import Dovecot, start_dovecot
from support.smtp_sink import SmtpSink

from worker import migrate

REPO = Path(__file__).resolve().parents[2]
MAILBOX = "signon@hrn.example"
PASSWORD = "op-guide-password"


def worked_example() -> str:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    block = re.search(r"<!-- worked-example -->\n```sh\n(.*?)```\n<!-- /worked-example -->",
                      readme, re.S)  # fmt: skip
    assert block, "README: the worked example block is missing"
    return block.group(1)


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[tuple[SmtpSink, Dovecot]]:
    sink = SmtpSink(tmp_path / "sink").start()
    dovecot = start_dovecot(tmp_path / "dovecot")
    # The guide's mailbox is a full address: a user name with an @ in it.
    with (dovecot.root / "passwd").open("a") as passwd:
        passwd.write(f"{MAILBOX}:{{PLAIN}}{PASSWORD}::::::\n")
    dovecot.user, dovecot.password = MAILBOX, PASSWORD
    try:
        yield sink, dovecot
    finally:
        dovecot.stop()
        sink.stop()


def test_the_worked_example_runs_against_a_real_relay_and_mailbox(
    servers: tuple[SmtpSink, Dovecot], tmp_path: Path
) -> None:
    sink, dovecot = servers
    script = worked_example()
    assert "signon%40hrn.example" in script  # the %40 form, as documented
    script = (
        script.replace("127.0.0.1:25'", f"127.0.0.1:{sink.port}'")
        .replace("127.0.0.1:143/", f"127.0.0.1:{dovecot.port}/")
        .replace("CHANGE-ME", PASSWORD)
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("OUTREACH_")}
    env.update({
        "PATH": f"{REPO / '.venv' / 'bin'}:{env.get('PATH', '/usr/bin:/bin')}",
        "OUTREACH_DATA_DIR": str(tmp_path / "data"),
        "OUTREACH_SECRET_KEY": "test-secret-key-not-for-production",
    })  # fmt: skip
    (tmp_path / "data").mkdir()
    migrate.upgrade(f"sqlite:///{tmp_path / 'data' / 'outreach.sqlite3'}")  # `db upgrade`
    dovecot.append(
        b"From: Someone <someone@ngo.example>\r\nTo: signon+nothing@hrn.example\r\n"
        b"Subject: Re: joint letter\r\nMessage-ID: <op-guide-1@ngo.example>\r\n"
        b"Date: Mon, 20 May 2024 10:00:00 +0900\r\n\r\nWe would like to sign.\r\n"
    )
    done = subprocess.run(["bash", "-e", "-c", script], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=300, check=False)  # fmt: skip
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert re.search(rf"ok\s+smtp\s+4\s+.*127\.0\.0\.1:{sink.port}", out), out
    assert re.search(r"ok\s+imap\s+8\s+.*folder 'INBOX' opens", out), out
    assert "1 read, 1 new" in out, out

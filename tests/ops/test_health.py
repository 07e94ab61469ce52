"""`outreach health` asks the real services and says in its exit status which one failed."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest

from worker.actions.health import CHECK_BITS
from worker.settings import reset_settings

from .conftest import REDIS_URL, CampaignBuilder

Cli = Callable[..., tuple[int, str]]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _wait_for_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), 0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


@pytest.fixture
def smtp_port() -> Iterator[int]:
    """A real SMTP server (aiosmtpd, its own process) that accepts and discards mail."""
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{port}", "-c",
         "aiosmtpd.handlers.Sink"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        _wait_for_port(port)
        yield port
    finally:
        proc.terminate()
        proc.wait(10)


def _health(cli: Cli, *args: str) -> tuple[int, dict[str, dict[str, object]]]:
    code, out = cli("health", "--json", "--timeout", "2", *args)
    doc = json.loads(out)
    assert doc["exit_code"] == code
    return code, {c["name"]: c for c in doc["checks"]}


def test_health_passes_when_every_service_answers(
    builder: CampaignBuilder, cli: Cli, smtp_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OUTREACH_BROKER_URL", REDIS_URL)
    monkeypatch.setenv("OUTREACH_SMTP_URL", f"smtp://127.0.0.1:{smtp_port}")
    reset_settings()
    builder.beat(builder.now - timedelta(seconds=3))
    code, checks = _health(cli)
    assert code == 0, checks
    assert set(checks) == {"db", "broker", "smtp", "imap", "beat", "bounces"}
    assert "too few or too recent" in str(checks["bounces"]["detail"])
    assert checks["imap"]["skipped"] is True  # OUTREACH_IMAP_URL unset: polling is off


def test_health_exit_status_has_one_bit_per_failed_check(
    builder: CampaignBuilder, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    dead = _free_port()
    monkeypatch.setenv("OUTREACH_BROKER_URL", f"redis://127.0.0.1:{dead}/0")
    monkeypatch.setenv("OUTREACH_SMTP_URL", f"smtp://127.0.0.1:{dead}")
    monkeypatch.setenv("OUTREACH_IMAP_URL", f"imap://u:p@127.0.0.1:{dead}/INBOX")
    monkeypatch.setenv("OUTREACH_LMTP_PORT", str(dead))
    reset_settings()
    builder.beat(builder.now - timedelta(hours=1))  # stale

    code, checks = _health(cli, "-c", "db", "-c", "broker", "-c", "smtp", "-c", "imap",
                           "-c", "beat", "-c", "lmtp")  # fmt: skip
    assert checks["db"]["ok"] is True
    assert code == CHECK_BITS["broker"] | CHECK_BITS["smtp"] | CHECK_BITS["imap"] | (
        CHECK_BITS["beat"] | CHECK_BITS["lmtp"]
    )
    assert "outreach beat" in str(checks["beat"]["detail"])

    # Only the checks asked for run, so a worker's health check can leave beat out.
    code, checks = _health(cli, "-c", "db")
    assert (code, list(checks)) == (0, ["db"])


def test_health_names_an_unmigrated_database(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    monkeypatch.setenv("OUTREACH_DATABASE_URL", f"sqlite:///{tmp_path}/empty.sqlite3")
    monkeypatch.setenv("OUTREACH_DATA_DIR", f"{tmp_path}/data")
    reset_settings()
    code, checks = _health(cli, "-c", "db")
    assert code == CHECK_BITS["db"]
    assert "outreach db upgrade" in str(checks["db"]["detail"])
    reset_settings()


def test_health_reports_a_bounce_path_that_never_brought_a_report(
    builder: CampaignBuilder, cli: Cli
) -> None:
    """Invitations went out two days ago and no DSN ever came back: bit 64, with advice."""
    from worker.core.bounce_path import MIN_SENT
    from worker.core.states import OutboxState

    built = builder.campaign("quiet", MIN_SENT, deadline=builder.now + timedelta(days=5))
    built.campaign.definition = {"sender": {"reply_local_part": "signon",
                                            "reply_domain": "hrn.example"}}
    for invitation in built.invitations:
        row = builder.outbox(invitation, "invitation", OutboxState.SENT)
        row.sent_at = builder.now - timedelta(days=2)
    builder.session.commit()
    code, checks = _health(cli, "-c", "bounces")
    assert code == CHECK_BITS["bounces"]
    assert "no delivery report received" in str(checks["bounces"]["detail"])
    assert "signon+bounce-TOKEN@hrn.example" in str(checks["bounces"]["detail"])

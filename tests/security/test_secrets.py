"""No secret in any log line or traceback, in JSON or console mode: grep a run that fails."""

from __future__ import annotations

import io
import logging
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from worker.logs import configure_logging, get_logger
from worker.settings import reset_settings

REPO = Path(__file__).resolve().parents[2]
KEY = "hmac-key-Zq8v3Lr0Wx"
SMTP_PASSWORD = "smtp-pw-Kd93jfQ"
IMAP_PASSWORD = "imap pw/Qp7#x"  # needs quoting in a URL
DB_PASSWORD = "db-pw-77Hs2"
RAW_MAIL = b"From: info@green.example\r\nSubject: private reply body Xy7\r\n\r\nsecret words"
SECRETS = [KEY, SMTP_PASSWORD, IMAP_PASSWORD, DB_PASSWORD, "secret words"]


@pytest.fixture
def configured(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("OUTREACH_SECRET_KEY", KEY)
    monkeypatch.setenv("OUTREACH_SMTP_URL", f"smtp://relay:{SMTP_PASSWORD}@127.0.0.1:1")
    monkeypatch.setenv("OUTREACH_IMAP_URL", "imap://signon:imap%20pw%2FQp7%23x@127.0.0.1:1")
    monkeypatch.setenv(
        "OUTREACH_DATABASE_URL", f"postgresql+psycopg://app:{DB_PASSWORD}@127.0.0.1:1/x"
    )
    reset_settings()
    yield
    reset_settings()
    root = logging.getLogger()
    for handler in list(root.handlers):
        if handler.get_name() == "outreach":
            root.removeHandler(handler)


def _fail_while_holding_secrets() -> None:
    from worker.settings import get_settings

    settings = get_settings()
    smtp = settings.smtp_target()
    imap = settings.imap_target()
    key = settings.secret()
    raw = RAW_MAIL
    assert smtp.password and imap and key and raw  # locals a rich traceback would print
    raise ConnectionError(
        f"login failed for {settings.smtp_url} and {settings.database_url}, password={key!r}"
    )


@pytest.mark.parametrize("json", [True, False])
def test_a_failing_run_logs_no_secret(configured: None, json: bool) -> None:
    out = io.StringIO()
    configure_logging(json=json, level="DEBUG", stream=out)
    log = get_logger("test")
    try:
        _fail_while_holding_secrets()
    except ConnectionError:
        log.exception("smtp.failed", url=f"smtp://relay:{SMTP_PASSWORD}@x", key=KEY)
        logging.getLogger("celery.worker").exception("task raised (stdlib, as Celery logs)")
    log.info("imap.connect", password=IMAP_PASSWORD, detail={"nested": [DB_PASSWORD]})
    text = out.getvalue()
    assert "ConnectionError" in text and "smtp.failed" in text  # the failure is logged
    assert text.count("Traceback") == 2
    for secret in SECRETS:
        assert secret not in text, f"{secret!r} leaked into the {'json' if json else 'console'} log"
    assert "***" in text


@pytest.mark.parametrize(("json_logs", "args"), [("false", ["intake", "poll"]),
                                                 ("true", ["review", "list"])])
def test_a_cli_run_that_fails_on_purpose_prints_no_secret(
    tmp_path: Path, json_logs: str, args: list[str]
) -> None:
    """The real `outreach` command, its database and mailbox unreachable, secrets configured:
    the failure is reported (exit 1, the exception named) and no secret appears anywhere."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OUTREACH_")}
    env.update(
        OUTREACH_DATA_DIR=str(tmp_path),
        OUTREACH_SECRET_KEY=KEY,
        OUTREACH_SMTP_URL=f"smtp://relay:{SMTP_PASSWORD}@127.0.0.1:1",
        OUTREACH_IMAP_URL="imap://signon:imap%20pw%2FQp7%23x@127.0.0.1:1/INBOX",
        OUTREACH_LOG_JSON=json_logs,
    )
    if args[0] == "review":  # the database is the unreachable part
        env["OUTREACH_DATABASE_URL"] = f"postgresql+psycopg://app:{DB_PASSWORD}@127.0.0.1:1/x"
    done = subprocess.run([str(REPO / ".venv" / "bin" / "outreach"), *args], env=env,
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert "error: " in output and "Error" in output
    for secret in (KEY, SMTP_PASSWORD, IMAP_PASSWORD, "imap%20pw", DB_PASSWORD):
        assert secret not in output, f"{secret!r} leaked by `outreach {' '.join(args)}`"

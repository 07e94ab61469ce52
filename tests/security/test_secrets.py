"""No secret in any log line or traceback, in JSON or console mode: grep a run that fails."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from worker.logs import configure_logging, get_logger
from worker.settings import reset_settings

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

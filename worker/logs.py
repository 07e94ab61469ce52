"""Logging: one line per event (JSON when settings.log_json), carrying campaign/contact/outbox ids.

Call `configure_logging()` once per process (the CLI, the worker and beat do). Code logs with
`log = get_logger(__name__)` and `log.info("outbox.sent", smtp_code=250)`; ids that belong to
the work in hand are bound once with `bind_ids(...)` or the `bound(...)` context manager and then
appear on every line logged inside it. Celery's and other libraries' stdlib logging goes through
the same renderer, so a worker's output stays one parseable line per event.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import unquote, urlsplit

import structlog
from structlog.typing import Processor

_CONFIGURED: dict[str, Any] = {}


def _shared_processors() -> list[Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.stdlib.ExtraAdder(),
    ]


def configure_logging(
    *, json: bool | None = None, level: str | None = None, stream: TextIO | None = None
) -> None:
    """Set up structlog and the stdlib root logger; safe to call again (the last call wins).

    `json` and `level` default to settings.log_json and settings.log_level.
    """
    from worker.settings import get_settings

    settings = get_settings()
    as_json = settings.log_json if json is None else json
    level_name = (level or settings.log_level).upper()
    numeric_level = logging.getLevelNamesMapping().get(level_name, logging.INFO)
    out = stream or sys.stderr

    renderer: Processor
    if as_json:
        renderer = structlog.processors.JSONRenderer(ensure_ascii=False, sort_keys=False)
    else:
        # Plain tracebacks: rich's default shows every frame's local variables, which hold
        # passwords, the HMAC key and whole emails.
        renderer = structlog.dev.ConsoleRenderer(
            colors=out.isatty(), sort_keys=False, exception_formatter=structlog.dev.plain_traceback
        )
    redact = Redactor(known_secrets(settings))

    structlog.configure(
        processors=[
            *_shared_processors(),
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_shared_processors(),
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            # Exceptions become one field, never loose lines, and pass the redactor like the
            # rest of the event: no secret reaches a log line or a traceback in any mode.
            structlog.processors.format_exc_info,
            redact,
            renderer,
        ],
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter)
    handler.set_name("outreach")
    root = logging.getLogger()
    for old in list(root.handlers):
        if old.get_name() == "outreach":
            root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(numeric_level)
    _CONFIGURED.update(json=as_json, level=level_name)


_URL_PASSWORD = re.compile(r"(?<=://)([^:/@\s]*):([^@\s]+)@")
_PASSWORD_FIELD = re.compile(
    r"(?i)\b(password|passwd|secret_key|secret|api_key|token_key)(\s*[=:]\s*)([^\s,;'\"]+)"
)
REDACTED = "***"


def known_secrets(settings: Any) -> list[str]:
    """Every configured secret value: key, SMTP/IMAP passwords, passwords inside URLs."""
    found: list[str] = []
    key = settings.secret_key.get_secret_value()
    if key:
        found.append(key)
    key_file = Path(settings.data_dir) / "secret_key"
    try:
        if key_file.is_file():
            found.append(key_file.read_text().strip())
    except OSError:
        pass
    for url in (settings.database_url, settings.broker_url, settings.redis_url,
                settings.smtp_url, settings.imap_url):
        parts = urlsplit(url or "")
        if parts.password:
            found.extend({parts.password, unquote(parts.password)})
    return sorted({s for s in found if len(s) >= 4}, key=len, reverse=True)


class Redactor:
    """A structlog processor: secrets (known values, URL passwords, password=...) become ***."""

    def __init__(self, secrets: list[str]) -> None:
        self.secrets = secrets

    def scrub(self, text: str) -> str:
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        text = _URL_PASSWORD.sub(rf"\1:{REDACTED}@", text)
        return _PASSWORD_FIELD.sub(rf"\1\2{REDACTED}", text)

    def _clean(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.scrub(value)
        if isinstance(value, bytes):
            return self.scrub(value.decode("utf-8", "replace"))
        if isinstance(value, dict):
            return {k: self._clean(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self._clean(v) for v in value]
        if isinstance(value, int | float | bool) or value is None:
            return value
        return self.scrub(str(value))

    def __call__(self, _logger: Any, _name: str, event: Any) -> Any:
        return {k: self._clean(v) for k, v in event.items()}


def is_configured() -> bool:
    return bool(_CONFIGURED)


def get_logger(name: str | None = None) -> structlog.stdlib.BoundLogger:
    logger: structlog.stdlib.BoundLogger = structlog.stdlib.get_logger(name)
    return logger


def bind_ids(
    *,
    campaign_id: int | None = None,
    contact_id: int | None = None,
    outbox_id: int | None = None,
    invitation_id: int | None = None,
    inbound_id: int | None = None,
    **extra: Any,
) -> None:
    """Bind ids to every later log line of this thread/task (None values are left out)."""
    values = {
        "campaign_id": campaign_id,
        "contact_id": contact_id,
        "outbox_id": outbox_id,
        "invitation_id": invitation_id,
        "inbound_id": inbound_id,
        **extra,
    }
    structlog.contextvars.bind_contextvars(**{k: v for k, v in values.items() if v is not None})


def clear_ids() -> None:
    structlog.contextvars.clear_contextvars()


@contextmanager
def bound(**ids: Any) -> Iterator[structlog.stdlib.BoundLogger]:
    """Bind ids for the duration of a block (a task body), then restore what was bound before.

    Accepts the same keywords as `bind_ids`; yields a logger for convenience.
    """
    values = {k: v for k, v in ids.items() if v is not None}
    tokens = structlog.contextvars.bind_contextvars(**values)
    try:
        yield get_logger()
    finally:
        structlog.contextvars.reset_contextvars(**tokens)


_CELERY_HOOKED: list[Any] = []


def install_celery_logging() -> None:
    """Make Celery workers and beat log through `configure_logging` (one JSON line per event).

    Call once where the Celery app is built (worker/celery_app.py). Connecting `setup_logging`
    stops Celery from installing its own handlers; each task's lines carry its name and id.
    """
    if _CELERY_HOOKED:
        return
    from celery import signals

    def _setup(**_: Any) -> None:
        configure_logging()

    def _prerun(task_id: str | None = None, task: Any = None, **_: Any) -> None:
        clear_ids()
        bind_ids(task=getattr(task, "name", None), task_id=task_id)

    def _postrun(**_: Any) -> None:
        clear_ids()

    signals.setup_logging.connect(_setup, weak=False)
    signals.task_prerun.connect(_prerun, weak=False)
    signals.task_postrun.connect(_postrun, weak=False)
    _CELERY_HOOKED.extend([_setup, _prerun, _postrun])


__all__ = [
    "bind_ids",
    "bound",
    "clear_ids",
    "configure_logging",
    "get_logger",
    "install_celery_logging",
    "is_configured",
]

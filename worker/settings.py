"""Settings: the only place that reads the environment and config/ (prefix OUTREACH_)."""

from __future__ import annotations

import contextlib
import os
import secrets
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import unquote, urlsplit

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from worker.core.retry import RetryPolicy
from worker.errors import UserError

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class SmtpTarget(BaseModel):
    """Where outgoing mail goes, parsed from OUTREACH_SMTP_URL."""

    scheme: Literal["smtp", "smtps", "file"]
    host: str = "127.0.0.1"
    port: int = 25
    username: str | None = None
    password: str | None = None
    starttls: bool = False
    implicit_tls: bool = False
    path: Path | None = None  # for file:// capture


class ImapTarget(BaseModel):
    """The mailbox replies arrive in, parsed from OUTREACH_IMAP_URL."""

    host: str
    port: int
    username: str
    password: str
    ssl: bool
    folder: str = "INBOX"


class Settings(BaseSettings):
    """Runtime configuration: each field is OUTREACH_<NAME> or a line of config/outreach.env."""

    model_config = SettingsConfigDict(
        env_prefix="OUTREACH_",
        env_file=(PROJECT_ROOT / "config" / "outreach.env",),
        env_file_encoding="utf-8",
        extra="ignore",
    )

    @field_validator("*", mode="before")
    @classmethod
    def _seconds(cls, value: object, info: object) -> object:
        """A `*_seconds` setting takes a number of seconds or a duration with its unit
        ("5 minutes", "3 days", "PT20S", "0:05:00"; worker/core/durations.py)."""
        name = getattr(info, "field_name", "") or ""
        if name.endswith("_seconds") and isinstance(value, str):
            text = value.strip()
            try:
                return float(text)
            except ValueError:
                from worker.core.durations import parse_duration

                try:
                    return parse_duration(text).total_seconds()
                except ValueError as exc:
                    raise ValueError(f"OUTREACH_{name.upper()}: {exc}") from None
        return value

    data_dir: Path = Field(default=PROJECT_ROOT / "data")
    database_url: str = ""  # empty: SQLite file under data_dir
    broker_url: str = ""  # empty: Kombu filesystem transport under data_dir
    redis_url: str = ""  # shared rate limit; empty: derived from a redis broker_url, else DB
    smtp_url: str = ""  # empty: file:// capture under data_dir/outbox-capture
    smtp_timeout_seconds: float = 30.0
    smtp_rate_per_minute: int = 600
    imap_url: str = ""  # imap[s]://user:pass@host:port/FOLDER ; empty: IMAP polling off
    imap_poll_seconds: float = 30.0
    lmtp_host: str = "127.0.0.1"
    lmtp_port: int = 8024
    # Recipient domains LMTP accepts (comma-separated), besides each campaign's reply_domain.
    lmtp_domains: str = ""
    secret_key: SecretStr = SecretStr("")  # empty: generated once into data_dir/secret_key
    authserv_id: str = ""  # our own receiving server's Authentication-Results id
    campaigns_dir: Path = Field(default=PROJECT_ROOT / "config" / "campaigns")
    templates_dir: Path = Field(default=PROJECT_ROOT / "templates")
    scan_interval_seconds: float = 5.0
    # A claim on outbox rows; a live worker extends it every quarter lease, so a dead one's
    # rows are sent again within about this many seconds.
    outbox_lease_seconds: int = 20
    outbox_batch_size: int = 100  # rows per task: fewer round trips, bounded memory
    outbox_retry_base_seconds: float = 60.0  # first retry after ~this; doubles each attempt
    # Temporary failures (4xx, no answer) are retried this long after the first attempt, then
    # the row fails with the last answer (an MTA's queue lifetime; Postfix keeps 5 days).
    outbox_retry_window_seconds: float = 3 * 24 * 3600.0
    # How far ahead the scan hands work to the queue (at the relay's rate), and how long a
    # hand-out stands before a lost task is assumed: the backlog in the broker stays bounded.
    dispatch_window_seconds: float = 30.0
    # PostgreSQL drops a client that stopped answering (a host cut off by the network) after
    # about this long (server-side TCP keepalives), so its open transaction and row locks go.
    db_dead_client_seconds: int = 30
    log_json: bool = False
    log_level: str = "INFO"
    metrics_port: int = 9808
    metrics_host: str = "127.0.0.1"  # loopback unless told otherwise (0.0.0.0 in a container)
    beat_stale_seconds: float = 120.0
    # The web console (`outreach web`). public_url: how the world reaches it (https://...);
    # when set, invitations and reminders carry an RFC 8058 one-click unsubscribe link.
    public_url: str = ""
    web_host: str = "127.0.0.1"
    web_port: int = 8080

    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(
            window=timedelta(seconds=self.outbox_retry_window_seconds),
            base=timedelta(seconds=self.outbox_retry_base_seconds),
        )

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{self.data_dir / 'outreach.sqlite3'}"

    def resolved_broker_url(self) -> str:
        if self.broker_url:
            return self.broker_url
        return "filesystem://"

    def filesystem_broker_dir(self) -> Path:
        folder = self.data_dir / "broker"
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def resolved_redis_url(self) -> str | None:
        if self.redis_url:
            return self.redis_url
        if self.resolved_broker_url().startswith(("redis://", "rediss://")):
            return self.resolved_broker_url()
        return None

    def smtp_target(self) -> SmtpTarget:
        url = self.smtp_url or f"file://{self.data_dir / 'mail-capture'}"
        parts = urlsplit(url)
        if parts.scheme == "file":
            return SmtpTarget(scheme="file", path=Path(unquote(parts.path)))
        if parts.scheme not in ("smtp", "smtps"):
            raise ValueError(
                f"OUTREACH_SMTP_URL: unknown scheme {parts.scheme!r}; use smtp://, smtps:// or file://"
            )
        query = dict(p.split("=", 1) for p in parts.query.split("&") if "=" in p)
        return SmtpTarget(
            scheme=parts.scheme,
            host=parts.hostname or "127.0.0.1",
            port=parts.port or (465 if parts.scheme == "smtps" else 25),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            starttls=query.get("starttls", "false").lower() in ("1", "true", "yes"),
            implicit_tls=parts.scheme == "smtps",
        )

    def imap_target(self) -> ImapTarget | None:
        if not self.imap_url:
            return None
        parts = urlsplit(self.imap_url)
        if parts.scheme not in ("imap", "imaps"):
            raise ValueError(f"OUTREACH_IMAP_URL: unknown scheme {parts.scheme!r}; use imap:// or imaps://")
        ssl = parts.scheme == "imaps"
        return ImapTarget(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or (993 if ssl else 143),
            username=unquote(parts.username or ""),
            password=unquote(parts.password or ""),
            ssl=ssl,
            folder=unquote(parts.path.lstrip("/")) or "INBOX",
        )

    def is_shared_database(self) -> bool:
        """A database server (not a SQLite file) that several hosts may use at once."""
        return not self.resolved_database_url().startswith("sqlite")

    def secret(self) -> bytes:
        """The HMAC key for reply tokens.

        With a database server it must be given (OUTREACH_SECRET_KEY): a key generated per
        host would make the hosts disagree on every token, so we refuse to start instead.
        With a SQLite file (one host) it is generated once into data_dir/secret_key, created
        0600 and complete in one step (no moment where another user could read it).
        """
        value = self.secret_key.get_secret_value()
        if value:
            return value.encode()
        if self.is_shared_database():
            raise MissingSecretKey(
                "OUTREACH_SECRET_KEY is not set, and the database is a server that several "
                "hosts may share: a key generated here would not match theirs and every reply "
                "token would be wrong. Set the same OUTREACH_SECRET_KEY on every host (in the "
                "environment or config/outreach.env); make one with: "
                "python -c 'import secrets; print(secrets.token_urlsafe(48))'"
            )
        key_file = self.data_dir / "secret_key"
        if not key_file.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            write_private_file(key_file, secrets.token_urlsafe(48))
        return key_file.read_text().strip().encode()


class MissingSecretKey(UserError):
    """Production settings without the shared HMAC key: refused at start."""


def write_private_file(path: Path, text: str) -> None:
    """Create `path` readable by its owner only, atomically; an existing file is kept.

    The text goes to a temporary file opened 0600 from the start, then is linked into place:
    a reader sees no file or the whole key, and two processes racing keep the first key.
    """
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        # FileExistsError: another process made the key first, and theirs is the key.
        with contextlib.suppress(FileExistsError):
            os.link(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


def reset_settings() -> None:
    """Forget cached settings (tests and the demo change the environment)."""
    get_settings.cache_clear()

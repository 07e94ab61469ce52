"""Settings: the only place that reads the environment and config/ (prefix OUTREACH_)."""

from __future__ import annotations

import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import unquote, urlsplit

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

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
    secret_key: SecretStr = SecretStr("")  # empty: generated once into data_dir/secret_key
    authserv_id: str = ""  # our own receiving server's Authentication-Results id
    campaigns_dir: Path = Field(default=PROJECT_ROOT / "config" / "campaigns")
    templates_dir: Path = Field(default=PROJECT_ROOT / "templates")
    scan_interval_seconds: float = 5.0
    outbox_lease_seconds: int = 300
    outbox_batch_size: int = 100  # rows per task: fewer round trips, bounded memory
    outbox_max_attempts: int = 8
    outbox_retry_base_seconds: float = 60.0  # first retry after ~this; doubles each attempt
    log_json: bool = False
    log_level: str = "INFO"
    metrics_port: int = 9808
    beat_stale_seconds: float = 120.0
    # The web console (`outreach web`). public_url: how the world reaches it (https://...);
    # when set, invitations and reminders carry an RFC 8058 one-click unsubscribe link.
    public_url: str = ""
    web_host: str = "127.0.0.1"
    web_port: int = 8080

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

    def secret(self) -> bytes:
        """The HMAC key for reply tokens; generated and kept under data_dir on a first run."""
        value = self.secret_key.get_secret_value()
        if value:
            return value.encode()
        key_file = self.data_dir / "secret_key"
        if not key_file.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            key_file.write_text(secrets.token_urlsafe(48))
            key_file.chmod(0o600)
        return key_file.read_text().strip().encode()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


def reset_settings() -> None:
    """Forget cached settings (tests and the demo change the environment)."""
    get_settings.cache_clear()

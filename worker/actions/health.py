"""Health checks for containers and people: is each thing the service needs reachable right now?

Each check returns a `CheckResult`; `run_checks` runs the chosen ones and `exit_code` folds the
failures into one number, a distinct bit per check, so a health-check log says which one failed:

    db 1, broker 2, smtp 4, imap 8, beat 16, lmtp 32, bounces 64   (0: all passed)

A check that does not apply (IMAP polling not configured, mail captured to a folder) passes
with a note saying so.
"""

from __future__ import annotations

import contextlib
import imaplib
import math
import smtplib
import socket
import ssl
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text

from worker.settings import Settings


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    detail: str
    skipped: bool = False

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


CHECK_BITS: dict[str, int] = {
    "db": 1,
    "broker": 2,
    "smtp": 4,
    "imap": 8,
    "beat": 16,
    "lmtp": 32,
    "bounces": 64,
}
# What `outreach health` checks when no --check is given (lmtp only runs in the intake service).
DEFAULT_CHECKS = ("db", "broker", "smtp", "imap", "beat", "bounces")


def check_db(settings: Settings, timeout: float) -> CheckResult:
    from worker import migrate
    from worker.db import get_engine

    url = settings.resolved_database_url()
    try:
        with get_engine(url).connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        return CheckResult("db", False, f"cannot reach the database: {_one_line(exc)}")
    try:
        heads = migrate.current_heads(url)
    except Exception as exc:
        return CheckResult("db", False, f"cannot read the schema version: {_one_line(exc)}")
    if not heads:
        return CheckResult("db", False, "schema missing: run `outreach db upgrade`")
    return CheckResult("db", True, f"reachable, schema {', '.join(sorted(heads))}")


def check_broker(settings: Settings, timeout: float) -> CheckResult:
    from kombu import Connection

    url = settings.resolved_broker_url()
    if url.startswith("filesystem"):
        folder = settings.filesystem_broker_dir()
        probe = folder / ".health-probe"
        try:
            probe.write_text("ok")
            probe.unlink()
        except OSError as exc:
            return CheckResult("broker", False, f"broker folder {folder} not writable: {exc}")
        return CheckResult("broker", True, f"filesystem broker at {folder}")
    try:
        if url.startswith(("redis://", "rediss://")):
            import redis

            client = redis.Redis.from_url(
                url, socket_connect_timeout=timeout, socket_timeout=timeout
            )
            try:
                client.ping()
            finally:
                client.close()
        else:
            with Connection(url, connect_timeout=timeout) as conn:
                conn.ensure_connection(max_retries=1, timeout=math.ceil(timeout))
    except Exception as exc:
        return CheckResult("broker", False, f"cannot reach {_redact(url)}: {_one_line(exc)}")
    return CheckResult("broker", True, f"reachable at {_redact(url)}")


def check_smtp(settings: Settings, timeout: float) -> CheckResult:
    target = settings.smtp_target()
    if target.scheme == "file":
        folder = target.path
        assert folder is not None
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            return CheckResult("smtp", False, f"capture folder {folder} not writable: {exc}")
        return CheckResult("smtp", True, f"mail is captured to {folder} (no SMTP server)")
    where = f"{target.host}:{target.port}"
    try:
        client: smtplib.SMTP
        if target.implicit_tls:
            client = smtplib.SMTP_SSL(
                target.host, target.port, timeout=timeout, context=ssl.create_default_context()
            )
        else:
            client = smtplib.SMTP(target.host, target.port, timeout=timeout)
        try:
            code, reply = client.ehlo()
            if code != 250:
                return CheckResult("smtp", False, f"{where} answered EHLO with {code} {reply!r}")
            if target.starttls:
                client.starttls(context=ssl.create_default_context())
                client.ehlo()
            if target.username and target.password:
                client.login(target.username, target.password)
        finally:
            try:
                client.quit()
            except smtplib.SMTPException:
                client.close()
    except (OSError, smtplib.SMTPException) as exc:
        return CheckResult("smtp", False, f"cannot use SMTP at {where}: {_one_line(exc)}")
    return CheckResult("smtp", True, f"SMTP at {where} answers")


def check_imap(settings: Settings, timeout: float) -> CheckResult:
    target = settings.imap_target()
    if target is None:
        return CheckResult(
            "imap", True, "IMAP polling is off (OUTREACH_IMAP_URL not set)", skipped=True
        )
    where = f"{target.host}:{target.port}"
    try:
        client: imaplib.IMAP4
        if target.ssl:
            client = imaplib.IMAP4_SSL(
                target.host, target.port, ssl_context=ssl.create_default_context(), timeout=timeout
            )
        else:
            client = imaplib.IMAP4(target.host, target.port, timeout=timeout)
        try:
            client.login(target.username, target.password)
            status, _ = client.select(_imap_quote(target.folder), readonly=True)
            if status != "OK":
                return CheckResult("imap", False, f"{where}: folder {target.folder!r} not found")
        finally:
            with contextlib.suppress(OSError, imaplib.IMAP4.error):
                client.logout()
    except (OSError, imaplib.IMAP4.error) as exc:
        return CheckResult("imap", False, f"cannot use IMAP at {where}: {_one_line(exc)}")
    return CheckResult("imap", True, f"IMAP at {where} answers, folder {target.folder!r} opens")


def check_beat(settings: Settings, timeout: float, now: datetime | None = None) -> CheckResult:
    from worker.actions.status import beat_status
    from worker.db import session_scope

    now = now or datetime.now(UTC)
    stale_after = timedelta(seconds=settings.beat_stale_seconds)
    try:
        with session_scope(settings.resolved_database_url()) as session:
            beat = beat_status(session, now, stale_after)
    except Exception as exc:
        return CheckResult("beat", False, f"cannot read the heartbeat: {_one_line(exc)}")
    if beat.age_seconds is None:
        return CheckResult("beat", False, "beat has never ticked: is `outreach beat` running?")
    if beat.stale:
        return CheckResult(
            "beat",
            False,
            f"last beat tick {beat.age_seconds:.0f}s ago (stale after "
            f"{settings.beat_stale_seconds:.0f}s): is `outreach beat` running?",
        )
    return CheckResult("beat", True, f"last tick {beat.age_seconds:.0f}s ago")


def check_lmtp(settings: Settings, timeout: float) -> CheckResult:
    where = f"{settings.lmtp_host}:{settings.lmtp_port}"
    try:
        with socket.create_connection((settings.lmtp_host, settings.lmtp_port), timeout) as conn:
            conn.settimeout(timeout)
            banner = conn.recv(512).decode("ascii", "replace").strip()
            conn.sendall(b"QUIT\r\n")
    except OSError as exc:
        return CheckResult("lmtp", False, f"LMTP listener at {where} unreachable: {exc}")
    if not banner.startswith("220"):
        return CheckResult("lmtp", False, f"LMTP listener at {where} greeted with {banner!r}")
    return CheckResult("lmtp", True, f"LMTP listener at {where} answers")


def check_bounces(settings: Settings, timeout: float, now: datetime | None = None) -> CheckResult:
    """Do delivery reports reach the mailbox? (core.bounce_path says when silence is suspect)."""
    from worker.actions.bounce_path import bounce_path_verdict
    from worker.db import session_scope

    try:
        with session_scope(settings.resolved_database_url()) as session:
            verdict = bounce_path_verdict(session, now or datetime.now(UTC))
    except Exception as exc:
        return CheckResult("bounces", False, f"cannot read mail traffic: {_one_line(exc)}")
    return CheckResult("bounces", verdict.ok, verdict.detail)


CHECKS: dict[str, Callable[[Settings, float], CheckResult]] = {
    "db": check_db,
    "broker": check_broker,
    "smtp": check_smtp,
    "imap": check_imap,
    "beat": check_beat,
    "lmtp": check_lmtp,
    "bounces": check_bounces,
}


def run_checks(
    settings: Settings, names: Iterable[str] = DEFAULT_CHECKS, timeout: float = 5.0
) -> list[CheckResult]:
    results = []
    for name in names:
        try:
            results.append(CHECKS[name](settings, timeout))
        except Exception as exc:  # a check never crashes the health command
            results.append(CheckResult(name, False, f"check crashed: {_one_line(exc)}"))
    return results


def exit_code(results: Iterable[CheckResult]) -> int:
    """The OR of the bits of every failed check (0 when all passed)."""
    code = 0
    for result in results:
        if not result.ok:
            code |= CHECK_BITS[result.name]
    return code


def _one_line(exc: BaseException) -> str:
    return (" ".join(str(exc).split()) or type(exc).__name__)[:300]


def _redact(url: str) -> str:
    from kombu.utils.url import maybe_sanitize_url

    return str(maybe_sanitize_url(url))


def _imap_quote(folder: str) -> str:
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'


__all__ = [
    "CHECKS",
    "CHECK_BITS",
    "DEFAULT_CHECKS",
    "CheckResult",
    "exit_code",
    "run_checks",
]

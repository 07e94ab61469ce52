"""Hands finished MIME bytes to the SMTP relay (smtplib, one reused connection per process),
or writes them as .eml files in capture mode (file://, the embedded default)."""

from __future__ import annotations

import contextlib
import os
import re
import smtplib
import socket
import ssl
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from worker.core.retry import is_temporary
from worker.settings import SmtpTarget, get_settings


@dataclass(frozen=True)
class Envelope:
    """One message to hand over: envelope addresses plus the exact bytes."""

    envelope_from: str
    recipients: list[str]
    raw: bytes
    message_id: str = ""


@dataclass(frozen=True)
class SendResult:
    """The relay's answer; `code` is None when there was none (timeout, dropped connection)."""

    code: int | None
    reply: str

    @property
    def is_sent(self) -> bool:
        return self.code is not None and 200 <= self.code < 300

    @property
    def is_temporary(self) -> bool:
        """4xx, no answer at all, and 552 (mailbox full, RFC 5321 §4.5.3.1.10) are retried."""
        return is_temporary(self.code)

    @property
    def is_permanent(self) -> bool:
        return not self.is_sent and not self.is_temporary


class Sender:
    """Sends synchronously (Celery's prefork workers run one message at a time) over one
    reused connection, with the standard library's `smtplib`: a fraction of the CPU per
    message of an asyncio client driven from synchronous code."""

    def __init__(self, target: SmtpTarget, timeout: float = 30.0) -> None:
        self.target = target
        self.timeout = timeout
        self._smtp: smtplib.SMTP | None = None

    @property
    def relay(self) -> str:
        """The name the global rate limit is kept under."""
        if self.target.scheme == "file":
            return f"file:{self.target.path}"
        return f"{self.target.host}:{self.target.port}"

    def send_many(
        self, envelopes: Sequence[Envelope], delays: Sequence[float] | None = None
    ) -> list[SendResult]:
        """Send in order; message i waits until `delays[i]` seconds after the call started."""
        started = time.monotonic()
        results: list[SendResult] = []
        for index, envelope in enumerate(envelopes):
            if delays is not None:
                remaining = started + delays[index] - time.monotonic()
                if remaining > 0:
                    time.sleep(remaining)
            results.append(self.send_one(envelope))
        return results

    def send_one(self, envelope: Envelope) -> SendResult:
        """Send one message now, on the reused connection.

        A reused connection may have been closed by the relay while idle (Postfix answers
        "421 4.4.2 timeout exceeded" and hangs up after smtpd_timeout): that is not the
        message's fault, so reconnect at once and send again, instead of a retry much later.
        """
        if self.target.scheme == "file":
            return self._capture(envelope)
        reused = self._smtp is not None
        result, dropped = self._send_once(envelope)
        if dropped and reused:
            result, _ = self._send_once(envelope)
        return result

    def _send_once(self, envelope: Envelope) -> tuple[SendResult, bool]:
        """The answer, and whether the connection was found dropped before the message."""
        try:
            smtp = self._connection()
            refused = smtp.sendmail(envelope.envelope_from, envelope.recipients, envelope.raw)
        except smtplib.SMTPRecipientsRefused as exc:
            # Every recipient refused: the first refusal decides (we send one recipient each).
            code, message = next(iter(exc.recipients.values()))
            if code == 421:
                self.close()
            return SendResult(code, f"{code} {_text(message)}"), False
        except smtplib.SMTPServerDisconnected as exc:
            self.close()
            return SendResult(None, f"{type(exc).__name__}: {exc}"), True
        except smtplib.SMTPResponseException as exc:
            # 421 to MAIL FROM on a connection we had left idle: the relay timed it out.
            dropped = isinstance(exc, smtplib.SMTPSenderRefused) and exc.smtp_code == 421
            if exc.smtp_code == 421:
                self.close()  # the server is closing the channel
            return SendResult(exc.smtp_code, f"{exc.smtp_code} {_text(exc.smtp_error)}"), dropped
        except (smtplib.SMTPException, OSError) as exc:
            self.close()
            return SendResult(None, f"{type(exc).__name__}: {exc}"), isinstance(
                exc, ConnectionError
            )
        if refused:  # some recipients refused, the message went to the others
            text = "; ".join(f"{a}: {c} {_text(m)}" for a, (c, m) in refused.items())
            return SendResult(250, f"250 accepted (refused: {text})"), False
        return SendResult(250, "250 accepted"), False

    def _connection(self) -> smtplib.SMTP:
        if self._smtp is not None:
            return self._smtp
        target = self.target
        smtp: smtplib.SMTP
        if target.implicit_tls:
            smtp = smtplib.SMTP_SSL(
                target.host,
                target.port,
                local_hostname=_HELO,
                timeout=self.timeout,
                context=ssl.create_default_context(),
            )
        else:
            smtp = smtplib.SMTP(
                target.host, target.port, local_hostname=_HELO, timeout=self.timeout
            )
        try:
            smtp.ehlo()
            if target.starttls:
                smtp.starttls(context=ssl.create_default_context())
                smtp.ehlo()
            if target.username:
                smtp.login(target.username, target.password or "")
        except BaseException:
            with contextlib.suppress(OSError, smtplib.SMTPException):
                smtp.close()
            raise
        self._smtp = smtp
        return smtp

    def close(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is None:
            return
        with contextlib.suppress(smtplib.SMTPException, OSError):
            smtp.quit()
        with contextlib.suppress(OSError):
            smtp.close()

    def _capture(self, envelope: Envelope) -> SendResult:
        """file:// mode: write `<message-id>.eml` atomically; the same id overwrites itself."""
        folder = self.target.path or Path("mail-capture")
        folder.mkdir(parents=True, exist_ok=True)
        name = re.sub(r"[^A-Za-z0-9.@_+-]", "_", envelope.message_id.strip("<>")) or str(
            time.time_ns()
        )
        final = folder / f"{name}.eml"
        temporary = folder / f".{name}.{os.getpid()}.tmp"
        temporary.write_bytes(envelope.raw)
        temporary.replace(final)
        return SendResult(250, f"250 captured as {final.name}")


# EHLO name: the host name as configured (smtplib's default, getfqdn, may wait on DNS).
_HELO = socket.gethostname()


def _text(message: bytes | str) -> str:
    return message.decode("utf-8", "replace") if isinstance(message, bytes) else message


_SENDER: Sender | None = None


def get_sender() -> Sender:
    """The process's sender; its connection is reused across tasks."""
    global _SENDER
    if _SENDER is None:
        settings = get_settings()
        _SENDER = Sender(settings.smtp_target(), settings.smtp_timeout_seconds)
    return _SENDER


def reset_sender() -> None:
    """Forget the sender (after fork: a socket must not be shared between processes)."""
    global _SENDER
    _SENDER = None

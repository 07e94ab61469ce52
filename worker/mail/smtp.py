"""Hands finished MIME bytes to the SMTP relay (aiosmtplib, one reused connection per process),
or writes them as .eml files in capture mode (file://, the embedded default)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import aiosmtplib

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
    """Sends batches synchronously (for Celery's prefork workers) on a private event loop."""

    def __init__(self, target: SmtpTarget, timeout: float = 30.0) -> None:
        self.target = target
        self.timeout = timeout
        self._loop: asyncio.AbstractEventLoop | None = None
        self._smtp: aiosmtplib.SMTP | None = None

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
        if self.target.scheme == "file":
            return [self._capture(envelope) for envelope in envelopes]
        if self._loop is None or self._loop.is_closed():
            self._loop = asyncio.new_event_loop()
        return self._loop.run_until_complete(self._send_all(envelopes, delays))

    async def _send_all(
        self, envelopes: Sequence[Envelope], delays: Sequence[float] | None
    ) -> list[SendResult]:
        started = time.monotonic()
        results: list[SendResult] = []
        for index, envelope in enumerate(envelopes):
            if delays is not None:
                remaining = started + delays[index] - time.monotonic()
                if remaining > 0:
                    await asyncio.sleep(remaining)
            results.append(await self.send(envelope))
        return results

    def send_one(self, envelope: Envelope) -> SendResult:
        """Send one message now, on the reused connection (synchronous)."""
        if self.target.scheme == "file":
            return self._capture(envelope)
        if self._loop is None or self._loop.is_closed():
            self._loop = asyncio.new_event_loop()
        return self._loop.run_until_complete(self.send(envelope))

    async def send(self, envelope: Envelope) -> SendResult:
        # A reused connection may have been closed by the relay while idle (Postfix answers
        # "421 4.4.2 timeout exceeded" and hangs up after smtpd_timeout): that is not the
        # message's fault, so reconnect at once and send again, instead of a retry much later.
        reused = self._smtp is not None and self._smtp.is_connected
        result, dropped = await self._send_once(envelope)
        if dropped and reused:
            result, _ = await self._send_once(envelope)
        return result

    async def _send_once(self, envelope: Envelope) -> tuple[SendResult, bool]:
        """The answer, and whether the connection was found dropped before the message."""
        try:
            smtp = await self._connection()
            errors, reply = await smtp.sendmail(
                envelope.envelope_from, envelope.recipients, envelope.raw
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            # Every recipient refused: the first refusal decides (we send one recipient each).
            first = exc.recipients[0]
            return SendResult(first.code, f"{first.code} {first.message}"), False
        except aiosmtplib.SMTPServerDisconnected as exc:
            await self.close_async()
            return SendResult(None, f"{type(exc).__name__}: {exc}"), True
        except aiosmtplib.SMTPResponseException as exc:
            # 421 to MAIL FROM on a connection we had left idle: the relay timed it out.
            dropped = isinstance(exc, aiosmtplib.SMTPSenderRefused) and exc.code == 421
            if exc.code == 421 or not (self._smtp and self._smtp.is_connected):
                await self.close_async()  # 421: the server is closing the channel
            return SendResult(exc.code, f"{exc.code} {exc.message}"), dropped
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            await self.close_async()
            return SendResult(None, f"{type(exc).__name__}: {exc}"), isinstance(
                exc, ConnectionError
            )
        if errors:  # some recipients refused, the message went to the others
            refused = "; ".join(f"{addr}: {r.code} {r.message}" for addr, r in errors.items())
            return SendResult(250, f"250 {reply} (refused: {refused})"), False
        return SendResult(250, f"250 {reply}"), False

    async def _connection(self) -> aiosmtplib.SMTP:
        if self._smtp is not None and self._smtp.is_connected:
            return self._smtp
        target = self.target
        smtp = aiosmtplib.SMTP(
            hostname=target.host,
            port=target.port,
            timeout=self.timeout,
            use_tls=target.implicit_tls,
            start_tls=target.starttls,
        )
        await smtp.connect()
        if target.username:
            await smtp.login(target.username, target.password or "")
        self._smtp = smtp
        return smtp

    async def close_async(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is None:
            return
        with contextlib.suppress(aiosmtplib.SMTPException, OSError, TimeoutError):
            if smtp.is_connected:
                await smtp.quit()
        smtp.close()

    def close(self) -> None:
        if self._loop is not None and not self._loop.is_closed():
            self._loop.run_until_complete(self.close_async())
            self._loop.close()
        self._loop = None

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

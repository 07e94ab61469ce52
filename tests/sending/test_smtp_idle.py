"""A relay that timed out an idle connection (Postfix: "421 4.4.2 ... timeout exceeded", then
it hangs up) costs a reconnect, not a message deferred as a temporary failure."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP

from worker.mail.smtp import Envelope, Sender
from worker.settings import SmtpTarget

IDLE_SECONDS = 0.5


class PostfixLikeSMTP(SMTP):
    """Like Postfix's smtpd_timeout: say 421 and close the connection when idle too long."""

    def _timeout_cb(self) -> None:
        assert self.transport is not None
        self.transport.write(b"421 4.4.2 sink.test Error: timeout exceeded\r\n")
        self.transport.close()


class Recorder:
    def __init__(self) -> None:
        self.accepted: list[bytes] = []
        self.connections = 0

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        self.connections += 1
        session.host_name = hostname
        return responses

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.accepted.append(envelope.original_content or envelope.content)
        return "250 2.0.0 queued"


class IdleTimeoutController(Controller):
    def factory(self) -> SMTP:
        return PostfixLikeSMTP(self.handler, timeout=IDLE_SECONDS, hostname="sink.test")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def relay() -> Iterator[tuple[Recorder, int]]:
    recorder = Recorder()
    port = _free_port()
    controller = IdleTimeoutController(recorder, hostname="127.0.0.1", port=port)
    controller.start()
    yield recorder, port
    controller.stop()


def test_a_connection_the_relay_dropped_while_idle_is_reopened_at_once(
    relay: tuple[Recorder, int],
) -> None:
    recorder, port = relay
    sender = Sender(SmtpTarget(scheme="smtp", host="127.0.0.1", port=port), timeout=5)
    envelope = Envelope("a@hrn.example", ["b@ngo.example"], b"Subject: 1\r\n\r\none\r\n", "<1@x>")
    try:
        assert sender.send_one(envelope).is_sent
        time.sleep(IDLE_SECONDS * 4)  # the relay says 421 and hangs up meanwhile
        second = sender.send_one(
            Envelope("a@hrn.example", ["c@ngo.example"], b"Subject: 2\r\n\r\ntwo\r\n", "<2@x>")
        )
    finally:
        sender.close()
    assert second.is_sent, second.reply
    assert len(recorder.accepted) == 2
    assert recorder.connections == 2

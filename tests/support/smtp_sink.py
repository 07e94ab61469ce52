"""A real SMTP server for tests (aiosmtpd in its own process) that records and misbehaves on demand.

Run: python tests/support/smtp_sink.py FOLDER. It listens on a free loopback port, writes the
port to FOLDER/port, and appends one JSON line per accepted message to FOLDER/log.jsonl (and
the bytes to FOLDER/NNNNNN.eml). FOLDER/rules.json, re-read for every RCPT, says how to misbehave:

    {"reject": {"bad@x.example": 550},      # answer this code to RCPT for an address
     "storm": {"code": 421, "count": 30},   # the first `count` RCPTs overall get `code`
     "fail_first": {"a@x.example": 2},      # this address gets 451 on its first 2 attempts
     "hold_data": {"a@x.example": 60},      # a message to it waits 60 s for the DATA reply
     "flaky": {"rate": 0.3, "codes": [421, 451]}}  # a random 30% of RCPTs get one of these

Every refused RCPT is appended to FOLDER/refused.jsonl ({"rcpt": ..., "code": ...}).

A held message is announced at once in FOLDER/holding.jsonl and is accepted (logged, 250)
only if the client is still connected when the hold ends: a client that dies meanwhile has
sent nothing, as with a server that commits a message only when it can answer.

`SmtpSink` (below) starts and stops it from a test.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_MESSAGE_ID = re.compile(rb"^Message-ID:\s*(\S+)", re.IGNORECASE | re.MULTILINE)


class Handler:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.rcpt_count = 0
        self.attempts: dict[str, int] = {}
        self.accepted = 0

    def _rules(self) -> dict[str, Any]:
        try:
            return json.loads((self.folder / "rules.json").read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return {}

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        rules = self._rules()
        self.rcpt_count += 1
        key = address.lower()
        self.attempts[key] = self.attempts.get(key, 0) + 1
        storm = rules.get("storm") or {}
        flaky = rules.get("flaky") or {}
        if self.rcpt_count <= int(storm.get("count", 0)):
            code = int(storm.get("code", 421))
            return self._refuse(address, code, f"4.7.0 try again later (storm {self.rcpt_count})")
        if key in (rules.get("reject") or {}):
            code = int(rules["reject"][key])
            return self._refuse(
                address, code, f"5.1.1 <{address}>: Recipient address rejected: User unknown"
            )
        if self.attempts[key] <= int((rules.get("fail_first") or {}).get(key, 0)):
            return self._refuse(address, 451, "4.3.0 temporary failure, try later")
        if flaky and random.random() < float(flaky.get("rate", 0)):
            code = int(random.choice(flaky.get("codes") or [451]))
            return self._refuse(address, code, "4.3.0 flaky relay, try later")
        envelope.rcpt_tos.append(address)
        return "250 OK"

    def _refuse(self, address: str, code: int, text: str) -> str:
        with (self.folder / "refused.jsonl").open("a") as log:
            log.write(json.dumps({"rcpt": address, "code": code}) + "\n")
        return f"{code} {text}"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw: bytes = envelope.original_content or envelope.content
        match = _MESSAGE_ID.search(raw)
        hold = {k.lower(): float(v) for k, v in (self._rules().get("hold_data") or {}).items()}
        seconds = max((hold.get(r.lower(), 0.0) for r in envelope.rcpt_tos), default=0.0)
        if seconds > 0:
            line = {
                "rcpt_tos": envelope.rcpt_tos,
                "message_id": match.group(1).decode() if match else None,
                "seconds": seconds,
            }
            with (self.folder / "holding.jsonl").open("a") as log:
                log.write(json.dumps(line) + "\n")
            # Cancelled (nothing recorded) if the client goes away meanwhile.
            await asyncio.sleep(seconds)
        self.accepted += 1
        name = f"{self.accepted:06d}.eml"
        (self.folder / name).write_bytes(raw)
        line = {
            "file": name,
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "message_id": match.group(1).decode() if match else None,
        }
        with (self.folder / "log.jsonl").open("a") as log:
            log.write(json.dumps(line) + "\n")
        return "250 2.0.0 queued as " + name


async def _serve(folder: Path) -> None:
    from aiosmtpd.smtp import SMTP

    handler = Handler(folder)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(handler, hostname="sink.test", decode_data=False), "127.0.0.1", 0
    )
    port = server.sockets[0].getsockname()[1]
    (folder / "port.tmp").write_text(str(port))
    (folder / "port.tmp").replace(folder / "port")
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    server.close()


@dataclass
class SmtpSink:
    """A sink process for one test: `start()`, then `messages()`, `set_rules()`, `stop()`."""

    folder: Path
    process: subprocess.Popen[bytes] | None = None
    port: int = 0

    def start(self, timeout: float = 10.0) -> SmtpSink:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen([sys.executable, __file__, str(self.folder)])
        deadline = time.monotonic() + timeout
        while not (self.folder / "port").exists():
            if time.monotonic() > deadline or self.process.poll() is not None:
                self.stop()
                raise RuntimeError(f"SMTP sink did not start (see {self.folder})")
            time.sleep(0.05)
        self.port = int((self.folder / "port").read_text())
        return self

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def set_rules(self, rules: dict[str, Any]) -> None:
        tmp = self.folder / "rules.tmp"
        tmp.write_text(json.dumps(rules))
        tmp.replace(self.folder / "rules.json")

    def messages(self) -> list[dict[str, Any]]:
        log = self.folder / "log.jsonl"
        if not log.exists():
            return []
        return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]

    def refused(self) -> list[dict[str, Any]]:
        """Every RCPT the sink refused: {"rcpt": address, "code": code}."""
        log = self.folder / "refused.jsonl"
        if not log.exists():
            return []
        return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]

    def holding(self) -> list[dict[str, Any]]:
        """Messages whose DATA reply was held (`hold_data`), accepted or not."""
        log = self.folder / "holding.jsonl"
        if not log.exists():
            return []
        return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]

    def raw(self, entry: dict[str, Any]) -> bytes:
        return (self.folder / entry["file"]).read_bytes()

    def stop(self) -> None:
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None


if __name__ == "__main__":
    asyncio.run(_serve(Path(sys.argv[1])))

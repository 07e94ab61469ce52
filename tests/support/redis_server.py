"""The test session's own Redis: a redis-server on a free loopback port, in a temporary folder.

The tests never use a Redis they did not start (a developer's or the machine's server, and its
data, stay untouched), unless OUTREACH_TEST_REDIS_URL names one on purpose. The server is a
child of the test session: stopped by its PID when the session ends, and by the kernel
(PR_SET_PDEATHSIG) if the session dies first.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

_PR_SET_PDEATHSIG = 1


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class RedisServer:
    """One redis-server process the tests own; `url` answers PING once `start()` returned."""

    def __init__(self, db: int = 0) -> None:
        self.db = db
        self.port = 0
        self.folder = Path(tempfile.mkdtemp(prefix="outreach-test-redis-"))
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/{self.db}"

    def start(self, timeout: float = 20.0) -> str:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError(
                "redis-server not found: run scripts/install-system-deps.sh (Debian: apt-get "
                "install redis-server), or point OUTREACH_TEST_REDIS_URL at a Redis you own"
            )
        for _ in range(5):  # another process may take the free port before we bind it
            self.port = free_port()
            log = (self.folder / "redis.log").open("ab")
            self.process = subprocess.Popen(
                [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                 "--appendonly", "no", "--dir", str(self.folder), "--daemonize", "no"],
                stdout=log, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent,
            )  # fmt: skip
            log.close()
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and self.process.poll() is None:
                if self._pings():
                    return self.url
                time.sleep(0.05)
            self.stop(remove=False)
        raise RuntimeError(f"the test Redis did not start; see {self.folder / 'redis.log'}")

    def _pings(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self, *, remove: bool = True) -> None:
        """Stop our server by its PID (never by name), then remove its folder."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        if remove:
            shutil.rmtree(self.folder, ignore_errors=True)


def session_redis_url() -> tuple[str, RedisServer | None]:
    """OUTREACH_TEST_REDIS_URL when set (a Redis the caller owns), else a server of our own."""
    given = os.environ.get("OUTREACH_TEST_REDIS_URL")
    if given:
        return given, None
    server = RedisServer(db=int(os.environ.get("OUTREACH_TEST_REDIS_DB", "0")))
    return server.start(), server

"""Real Celery worker and beat processes for end-to-end tests, and a bounded wait.

Each process runs in its own process group (so a SIGKILL takes its pool children with it) and
logs to a file in the test's folder. Used by tests/sending and tests/e2e.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
# Same variables as tests/conftest.py: each area's tests use their own Redis DB.
REDIS_URL = os.environ.get(
    "OUTREACH_TEST_REDIS_URL",
    f"redis://127.0.0.1:6379/{int(os.environ.get('OUTREACH_TEST_REDIS_DB', '15'))}",
)
CELERY = str(REPO / ".venv" / "bin" / "celery")


def wait_until(
    check: Callable[[], Any],
    timeout: float,
    what: str,
    every: float = 0.2,
    state: Callable[[], str] | None = None,
) -> Any:
    """Poll `check` until it returns something true; fail after `timeout` seconds, saying what
    was awaited and (with `state`) what the system looked like then."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            detail = f"\n{state()}" if state is not None else ""
            raise AssertionError(f"timed out after {timeout}s waiting for {what}{detail}")
        time.sleep(every)


def wait_for_scans(session: Any, scans: int = 3, timeout: float = 60) -> None:
    """Wait until the beat's due-scan has run `scans` more times (its heartbeat advanced), so
    an assertion that nothing more happened is made after real scans, not after a guess of
    how long they take. A scan's tasks run after it: three scans cover the first's work."""
    from sqlalchemy import select

    from worker.models import Heartbeat

    seen: list[Any] = []

    def advanced() -> bool:
        session.rollback()  # a fresh look at what the processes committed
        at = session.scalar(select(Heartbeat.at).where(Heartbeat.name == "beat"))
        if at is not None and (not seen or seen[-1] != at):
            seen.append(at)
        return len(seen) > scans  # the first value seen is where we started

    wait_until(advanced, timeout, f"{scans} more scans of the beat (its heartbeat)")


class Processes:
    """Celery worker and beat processes for one test, each in its own process group."""

    def __init__(self, env: dict[str, str], folder: Path) -> None:
        self.env = env
        self.folder = folder
        self.running: list[subprocess.Popen[bytes]] = []
        self.worker: subprocess.Popen[bytes] | None = None
        self.beats: list[subprocess.Popen[bytes]] = []

    def _start(self, args: list[str], log_name: str) -> subprocess.Popen[bytes]:
        log = (self.folder / log_name).open("ab")
        process = subprocess.Popen(
            [CELERY, "-A", "worker.celery_app", *args],
            cwd=REPO,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()  # the child has its own copy
        self.running.append(process)
        return process

    def start_worker(
        self, concurrency: int = 2, queues: Sequence[str] = ("sending", "scheduling")
    ) -> subprocess.Popen[bytes]:
        self.worker = self._start(
            [
                "worker",
                "-Q",
                ",".join(queues),
                "-P",
                "prefork",
                "-c",
                str(concurrency),
                "--without-heartbeat",
                "--without-gossip",
                "--without-mingle",
                "-l",
                "WARNING",
                "-n",
                f"sendtest-{len(self.running)}-{os.getpid()}@%h",
            ],
            "worker.log",
        )
        return self.worker

    def start_beat(self) -> subprocess.Popen[bytes]:
        """A beat process; several may run at once (each keeps its own schedule file)."""
        schedule = self.folder / f"beat-schedule-{len(self.beats) + 1}"
        beat = self._start(["beat", "-s", str(schedule), "-l", "WARNING"], "beat.log")
        self.beats.append(beat)
        return beat

    def kill_worker(self) -> None:
        """SIGKILL the worker and its pool children at once (no warm shutdown)."""
        assert self.worker is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.worker.pid, signal.SIGKILL)
        self.worker.wait()

    def logs(self, limit: int = 3000) -> str:
        """The tail of each log, for a failure message."""
        parts = []
        for name in ("worker.log", "beat.log"):
            path = self.folder / name
            if path.exists():
                parts.append(f"--- {name} (tail) ---\n{path.read_text(errors='replace')[-limit:]}")
        return "\n".join(parts)

    def stop_all(self) -> None:
        for process in self.running:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
        for process in self.running:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        # pool children left behind by a parent that died first
        for process in self.running:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)

"""A test run stopped by SIGTERM still stops what its fixtures started (tests/support/unwind.py)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

from support.celery_processes import wait_until

TESTS = Path(__file__).resolve().parent.parent

_INNER = """
import subprocess, time
from pathlib import Path
import pytest

@pytest.fixture
def server(tmp_path):
    # a stand-in for a worker or mail server: its own session, stopped only by this finally
    proc = subprocess.Popen(["sleep", "300"], start_new_session=True)
    Path({pid_file!r}).write_text(str(proc.pid))
    try:
        yield proc
    finally:
        proc.terminate()
        proc.wait(10)

def test_waits(server):
    time.sleep(120)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split()[2] not in ("Z", "X")  # not a zombie


def test_sigterm_to_pytest_runs_the_fixtures_teardown(tmp_path: Path) -> None:
    pid_file = tmp_path / "server.pid"
    (tmp_path / "test_inner.py").write_text(_INNER.format(pid_file=str(pid_file)))
    inner = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-q", "-p", "support.unwind", "-p", "no:cacheprovider",
         str(tmp_path / "test_inner.py")],
        cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(TESTS)},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    server = 0
    try:
        wait_until(lambda: pid_file.exists() and pid_file.read_text(), 60, "the fixture's server")
        server = int(pid_file.read_text())
        assert _alive(server)
        inner.send_signal(signal.SIGTERM)
        inner.wait(30)
        wait_until(lambda: not _alive(server), 15, "the server stopped by the teardown")
    finally:
        if inner.poll() is None:
            inner.kill()
            inner.wait(10)
        if server and _alive(server):
            with contextlib.suppress(ProcessLookupError):
                os.kill(server, signal.SIGKILL)

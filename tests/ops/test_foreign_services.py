"""Scripts never touch what the project did not start: an unrelated Dovecot and Redis (with
data) keep running after the install and service scripts (CI runs both README commands under
the same proof: .ci/run)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PROVE = [sys.executable, str(REPO / "scripts" / "prove-untouched.py")]
_DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"
needs_servers = pytest.mark.skipif(
    not (shutil.which("redis-server") and Path(_DOVECOT).exists()),
    reason="dovecot and redis-server are installed by scripts/install-system-deps.sh",
)


@needs_servers
def test_install_and_services_scripts_leave_an_unrelated_dovecot_and_redis_running() -> None:
    commands = ["--", "bash", "scripts/services.sh"]
    if os.getuid() == 0 and shutil.which("apt-get"):
        commands = ["--", "bash", "scripts/install-system-deps.sh", *commands]
    done = subprocess.run([*PROVE, *commands], cwd=REPO, capture_output=True, text=True,
                          timeout=600, check=False)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("still run, same PIDs, Redis data intact") == commands.count("--")


@needs_servers
def test_the_proof_fails_when_a_script_stops_the_unrelated_dovecot_or_flushes_redis() -> None:
    """The proof can fail: a script that kills the unrelated Dovecot (by its PID, never by
    name: other people's servers run here) or flushes a Redis DB is caught."""
    kill = 'kill "${PROVE_UNTOUCHED_PIDS%% *}"; sleep 1'
    done = subprocess.run([*PROVE, "--", "bash", "-c", kill], cwd=REPO, capture_output=True,
                          text=True, timeout=120, check=False)  # fmt: skip
    assert done.returncode == 1
    assert re.search(r"the unrelated dovecot .*(stopped|no longer)", done.stdout), done.stdout
    flush = (
        "import os, socket; s = socket.create_connection(('127.0.0.1', "
        "int(os.environ['PROVE_UNTOUCHED_REDIS_PORT']))); "
        "s.sendall(b'SELECT 15\\r\\nFLUSHDB\\r\\n'); s.recv(64)"
    )
    done = subprocess.run([*PROVE, "--", sys.executable, "-c", flush], cwd=REPO,
                          capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert done.returncode == 1
    assert "Redis DB 15: key other-app:cache:fr is None" in done.stdout, done.stdout

def test_no_script_stops_services_by_name_or_flushes_a_shared_redis() -> None:
    """The words that did it before: systemctl stop/disable, pkill/killall, FLUSHALL."""
    forbidden = re.compile(
        r"systemctl\s+(stop|disable|restart|kill)|\bpkill\b|\bkillall\b|FLUSHALL", re.I
    )
    for path in [*(REPO / "scripts").glob("*.sh"), REPO / ".ci" / "run"]:
        for lineno, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("#", 1)[0]
            assert not forbidden.search(code), f"{path.name}:{lineno}: {line.strip()}"

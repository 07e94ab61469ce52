"""A demo stopped from outside (a closed terminal, `kill`, a CI timeout) leaves no process behind.

The demo's worker, beat and LMTP listener run in sessions of their own, so a signal to the
demo reaches only the demo: it must stop them itself. They are found here by the data folder
in their environment, which only this test's demo uses.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest


def _children_of_demo(data_dir: Path) -> list[int]:
    """PIDs of processes (the demo itself aside) whose environment names this data folder."""
    marker = f"OUTREACH_DATA_DIR={data_dir}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if marker in environ.split(b"\0"):
            found.append(int(entry.name))
    return found


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_a_signal_to_the_demo_stops_its_worker_beat_and_lmtp(
    tmp_path: Path, signum: signal.Signals
) -> None:
    root = tmp_path / "demo"
    env = {k: v for k, v in os.environ.items() if not k.startswith("OUTREACH_")}
    demo = subprocess.Popen(
        [sys.executable, "-c", "from worker.cli import main; main()", "demo", "--dir", str(root),
         "--quiet"],
        cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    data_dir = root / "data"
    try:
        deadline = time.monotonic() + 90
        while len(children := [p for p in _children_of_demo(data_dir) if p != demo.pid]) < 3:
            assert demo.poll() is None, f"the demo exited ({demo.returncode}) before it ran"
            assert time.monotonic() < deadline, f"worker, beat and LMTP not up: {children}"
            time.sleep(0.2)

        demo.send_signal(signum)
        assert demo.wait(60) == 128 + signum

        left = [p for p in _children_of_demo(data_dir) if p != demo.pid]
        assert left == [], f"processes left running after the demo stopped: {left}"
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait(10)
        for pid in _children_of_demo(data_dir):  # only this test's demo used this folder
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

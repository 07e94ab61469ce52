"""The documented systemd units (deploy/systemd/): valid for systemd, one worker per role with
the node names `status` shows, a stop that lets running sends finish, exactly one beat."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
UNITS = REPO / "deploy" / "systemd"


def _exec_start(text: str) -> str:
    match = re.search(r"^ExecStart=(.*)$", text, re.M)
    assert match, "no ExecStart"
    return match.group(1)


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze missing")
def test_systemd_analyze_verifies_every_unit(tmp_path: Path) -> None:
    paths = []
    for unit in UNITS.glob("*.service"):
        name = unit.name.replace("@.service", "@sending.service")
        text = unit.read_text().replace("/opt/outreach", str(REPO))
        (tmp_path / name).write_text(text)
        paths.append(str(tmp_path / name))
    done = subprocess.run(["systemd-analyze", "verify", "--man=no", *paths],
                          capture_output=True, text=True, check=False)  # fmt: skip
    problems = [line for line in (done.stdout + done.stderr).splitlines()
                if "outreach" in line and "Failed to" not in line]  # fmt: skip
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(
    ("instance", "queues", "name"),
    [
        ("sending", "sending,scheduling,delivery", "sending"),
        ("intake", "intake", "intake"),
        ("sending-2", "sending,scheduling,delivery", "sending-2"),
    ],
)
def test_the_worker_unit_runs_each_role_under_its_name(
    instance: str, queues: str, name: str
) -> None:
    command = _exec_start((UNITS / "outreach-worker@.service").read_text())
    command = command.replace("%i", instance)
    command = command.replace("exec /opt/outreach/.venv/bin/outreach", "echo")
    script = re.fullmatch(r"/bin/sh -c '(.*)'", command)
    assert script
    done = subprocess.run(["/bin/sh", "-c", script.group(1)], capture_output=True, text=True,
                          check=True)  # fmt: skip
    expected = ["worker", "--queues", queues, "--concurrency", "4", "--name", name]
    assert done.stdout.split() == expected


def test_every_unit_stops_gracefully_and_only_one_beat_runs() -> None:
    units = {u.name: u.read_text() for u in UNITS.glob("*.service")}
    assert {"outreach-worker@.service", "outreach-beat.service"} <= set(units)
    for name, text in units.items():
        assert re.search(r"^KillMode=mixed$", text, re.M), name
        assert re.search(r"^EnvironmentFile=/etc/outreach/outreach.env$", text, re.M), name
    stop = re.search(r"^TimeoutStopSec=(\d+)$", units["outreach-worker@.service"], re.M)
    assert stop and int(stop.group(1)) > 300  # longer than a send lease (300 s by default)
    beats = [n for n, t in units.items() if " beat" in _exec_start(t) or "-B" in _exec_start(t)]
    assert beats == ["outreach-beat.service"]

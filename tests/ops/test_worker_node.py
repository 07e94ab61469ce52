"""Workers are named after their queues (status tells the intake worker from the sending one)
and stop gracefully when SIGTERM reaches their whole process group (systemd's default)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from support.celery_processes import wait_until

from worker.worker_node import node_name

REPO = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-c", "from worker.cli import main; main()"]


@pytest.mark.parametrize(
    ("queues", "override", "expected"),
    [
        ("sending,scheduling,delivery", None, "sending@h1"),
        ("intake", None, "intake@h1"),
        ("sending,scheduling,intake,delivery", None, "sending-intake@h1"),
        ("scheduling", None, "sending@h1"),
        ("intake", "intake-b", "intake-b@h1"),
        ("intake", "custom@elsewhere", "custom@elsewhere"),
    ],
)
def test_the_node_name_comes_from_the_queues(
    queues: str, override: str | None, expected: str
) -> None:
    assert node_name(queues, override, host="h1") == expected


@pytest.mark.slow
def test_status_names_both_workers_and_each_stops_on_a_group_sigterm(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OUTREACH_")}
    env.update({"OUTREACH_DATA_DIR": str(tmp_path / "data"),
                "OUTREACH_SECRET_KEY": "test-secret-key-not-for-production"})  # fmt: skip
    subprocess.run([*CLI, "db", "upgrade"], env=env, check=True, capture_output=True)
    workers = {}
    for queues in ("sending,scheduling,delivery", "intake"):
        with (tmp_path / f"{queues.split(',')[0]}.log").open("wb") as log:
            workers[queues] = subprocess.Popen(
                [*CLI, "worker", "--queues", queues, "--concurrency", "1", "--loglevel", "INFO"],
                env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip

    seen: list[str] = []

    def names() -> list[str]:
        done = subprocess.run([*CLI, "status", "--json", "--ping-timeout", "2"], env=env,
                              capture_output=True, text=True, check=False)  # fmt: skip
        seen[:] = [done.stdout[-1500:], done.stderr[-1500:]]
        if done.returncode != 0:
            return []
        found: list[str] = json.loads(done.stdout).get("workers") or []
        roles = sorted(n.split("@")[0] for n in found)
        return found if roles == ["intake", "sending"] else []

    def logs() -> str:
        return "\n".join([*seen, *(p.read_text()[-1500:] for p in tmp_path.glob("*.log"))])

    def both_ready() -> bool:  # cheap: read the logs, not a CLI run per poll
        text = "".join(p.read_text(errors="replace") for p in tmp_path.glob("*.log"))
        return bool(re.search(r"sending@\S+ ready", text) and re.search(r"intake@\S+ ready", text))

    try:
        wait_until(both_ready, 180, "both workers to start", every=0.5, state=logs)
        found = wait_until(names, 60, "both workers to answer a ping", every=1, state=logs)
        host = found[0].split("@")[1]
        assert sorted(found) == [f"intake@{host}", f"sending@{host}"]
        done = subprocess.run([*CLI, "status", "--ping-timeout", "2"], env=env,
                              capture_output=True, text=True, check=False)  # fmt: skip
        assert f"intake@{host}" in done.stdout and f"sending@{host}" in done.stdout
        # SIGTERM to the whole group, as systemd does: each stops (warm shutdown), exit 0.
        for process in workers.values():
            os.killpg(process.pid, signal.SIGTERM)
        for process in workers.values():
            assert process.wait(timeout=120) == 0, logs()
    finally:
        for process in workers.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def test_a_pool_child_freezes_its_start_up_heap_out_of_the_collectors_reach() -> None:
    import gc
    import weakref

    from celery.signals import worker_process_init

    import worker.celery_app  # noqa: F401  (connects the pool children's signals)
    from worker.worker_node import freeze_startup_heap

    live = [
        r() if isinstance(r, weakref.ReferenceType) else r for _, r in worker_process_init.receivers
    ]
    assert freeze_startup_heap in live
    try:
        gc.unfreeze()
        assert gc.get_freeze_count() == 0
        freeze_startup_heap()
        assert gc.get_freeze_count() > 10_000  # the modules and mappers a worker imported
    finally:
        gc.unfreeze()  # the test process goes on allocating and collecting as usual

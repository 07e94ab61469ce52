"""The demo's processes and files: the real `outreach` commands, run as subprocesses."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

from worker.demo.scenario import CAMPAIGN_FILE, CONTACTS_FILE, PYTHON_CLI, DemoFailed, Options

# --- processes ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_port(port: int, proc: subprocess.Popen[bytes] | None, what: str, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise DemoFailed(f"{what} exited with {proc.returncode}; see {log}")
        try:
            with socket.create_connection(("127.0.0.1", port), 0.2):
                return
        except OSError:
            time.sleep(0.1)
    raise DemoFailed(f"{what} did not listen on port {port} within 60s; see {log}")


@contextmanager
def processes() -> Iterator[Callable[[list[str], Path], subprocess.Popen[bytes]]]:
    """Start subprocesses in their own process groups; stop every one of them on the way out."""
    started: list[subprocess.Popen[bytes]] = []
    handles: list[Any] = []

    def start(argv: list[str], log: Path) -> subprocess.Popen[bytes]:
        handle = log.open("ab")
        handles.append(handle)
        proc = subprocess.Popen(
            argv,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=os.environ.copy(),
        )
        started.append(proc)
        return proc

    # Children run in sessions of their own (a Ctrl-C in the terminal must not reach them
    # half-way), so nothing stops them but this block: a SIGTERM or SIGHUP to the demo
    # (a closed terminal, `kill`, a CI timeout) must unwind through it like Ctrl-C does.
    previous = _unwind_on_termination()
    try:
        yield start
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        for proc in started:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in started:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
        for handle in handles:
            handle.close()


def _unwind_on_termination() -> dict[int, Any]:
    """SIGTERM and SIGHUP raise SystemExit (128 + signal) in the main thread; the handlers
    they replace are returned, to be put back."""
    if threading.current_thread() is not threading.main_thread():
        return {}

    def leave(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    return {signum: signal.signal(signum, leave) for signum in (signal.SIGTERM, signal.SIGHUP)}


def run_cli(args: list[str], log: Path) -> str:
    """Run an `outreach` command as a person would; its output goes to the log and is returned."""
    done = subprocess.run(
        [*PYTHON_CLI, *args], capture_output=True, text=True, env=os.environ.copy(), check=False
    )
    with log.open("a", encoding="utf-8") as handle:
        handle.write(f"$ outreach {' '.join(args)}\n{done.stdout}{done.stderr}\n")
    if done.returncode != 0:
        raise DemoFailed(f"`outreach {' '.join(args)}` failed:\n{done.stdout}{done.stderr}")
    return done.stdout.strip()


# --- the run -------------------------------------------------------------------------------------


def write_demo_campaign(source_dir: Path, dest: Path, start: datetime, options: Options) -> Path:
    """A copy of the seed campaign whose schedule runs now, in accelerated time."""
    dest.mkdir(parents=True, exist_ok=True)
    definition = yaml.safe_load((source_dir / CAMPAIGN_FILE).read_text(encoding="utf-8"))
    for name in definition.get("letter", {}).values():
        shutil.copy(source_dir / name, dest / name)
    shutil.copy(source_dir / CONTACTS_FILE, dest / CONTACTS_FILE)
    tz = ZoneInfo(definition.get("timezone", "UTC"))
    deadline = start + timedelta(seconds=options.deadline_at)
    reminder_lead = timedelta(seconds=options.deadline_at - options.reminder_at)
    definition["schedule"] = {
        "invite_at": (start + timedelta(seconds=options.invite_in)).astimezone(tz).isoformat(),
        "deadline": deadline.astimezone(tz).isoformat(),
        "reminders_before_deadline": [f"PT{int(reminder_lead.total_seconds())}S"],
        "quiet_hours": {"start": "00:00", "end": "00:00"},  # equal: no quiet hours
        # The real default is 20 hours; in accelerated time the reminder round follows the
        # invitations by under a minute.
        "min_reminder_gap": "PT20S",
    }
    path = dest / CAMPAIGN_FILE
    header = "# Written by `outreach demo`: the seed campaign with its schedule moved to now.\n"
    path.write_text(
        header + yaml.safe_dump(definition, allow_unicode=True, sort_keys=False), encoding="utf-8"
    )
    return path


def demo_environment(root: Path, smtp_port: int, lmtp_port: int) -> dict[str, str]:
    import secrets

    return {
        "OUTREACH_DATA_DIR": str(root / "data"),
        "OUTREACH_DATABASE_URL": "",
        "OUTREACH_BROKER_URL": "",
        "OUTREACH_REDIS_URL": "",
        "OUTREACH_SMTP_URL": f"smtp://127.0.0.1:{smtp_port}",
        "OUTREACH_IMAP_URL": "",
        "OUTREACH_SECRET_KEY": secrets.token_urlsafe(32),
        "OUTREACH_SCAN_INTERVAL_SECONDS": "1",
        "OUTREACH_IMAP_POLL_SECONDS": "5",
        "OUTREACH_LMTP_HOST": "127.0.0.1",
        "OUTREACH_LMTP_PORT": str(lmtp_port),
        "OUTREACH_LOG_JSON": "true",
        "OUTREACH_OUTBOX_RETRY_BASE_SECONDS": "2",
    }

#!/usr/bin/env python3
"""Prove that commands leave an unrelated Dovecot and Redis (and its data) running, untouched.

Before: starts a Dovecot (process name `dovecot`, so `pkill -x dovecot` would hit it) and a
redis-server holding data in DB 0 and DB 15 (where the old tests ran FLUSHDB), each in its own
session, as a mail server and a cache of another application on the same machine would be.
Redis takes port 6379 when it is free (the port the project's scripts used to assume).
Then: runs each command given after `--`, in order (CI passes both README commands).
After: the same PIDs still run, Dovecot still greets on its port, Redis has the same run_id
and every key with its value. The services it started are stopped by their PIDs at the end.

Usage: scripts/prove-untouched.py -- bash scripts/demo.sh -- bash scripts/test.sh
Exit status: the first failing command's, else 1 when anything was touched, else 0.
Standard library only: it runs before the project's virtualenv exists.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

CANARY = {0: {"other-app:session:42": "keep me"}, 15: {"other-app:cache:fr": "garde-moi"}}
DOVECOT_CONF = """\
# an unrelated IMAP server for scripts/prove-untouched.py
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
mail_location = maildir:{root}/mail/%u
first_valid_uid = 0
default_internal_user = {internal}
default_login_user = {login}
passdb {{
  driver = static
  args = password=unused
}}
userdb {{
  driver = static
  args = uid=nobody gid=nogroup home={root}/mail/%u
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
"""


@dataclass
class Unrelated:
    """The services another application runs on this machine."""

    dovecot: subprocess.Popen[bytes]
    imap_port: int
    redis: subprocess.Popen[bytes]
    redis_port: int
    run_id: str


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def redis(port: int, *commands: tuple[str, ...]) -> list[object]:
    """Commands over one RESP connection (no client library needed); their replies in order."""
    payload = "".join(
        f"*{len(args)}\r\n" + "".join(f"${len(a.encode())}\r\n{a}\r\n" for a in args)
        for args in commands
    )
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(payload.encode())
        reader = s.makefile("rb")
        return [_read(reader) for _ in commands]


def _read(reader: BinaryIO) -> object:
    line = reader.readline().rstrip(b"\r\n")
    kind, rest = line[:1], line[1:]
    if kind in (b"+", b"-"):
        return rest.decode()
    if kind == b":":
        return int(rest)
    if kind == b"$":
        size = int(rest)
        if size < 0:
            return None
        data = reader.read(size + 2)[:-2]
        return data.decode()
    if kind == b"*":
        return [_read(reader) for _ in range(int(rest))]
    raise RuntimeError(f"unexpected Redis reply {line!r}")


def wait_for(check: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"prove-untouched: {what} did not come up")


def imap_greets(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=3) as s:
        return s.recv(100).startswith(b"* OK")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def start_services(root: Path) -> Unrelated:
    dovecot = shutil.which("dovecot") or "/usr/sbin/dovecot"
    redis_server = shutil.which("redis-server")
    if not Path(dovecot).exists() or redis_server is None:
        raise SystemExit("prove-untouched: needs dovecot and redis-server installed")
    # Dovecot, as a system mail server would run (its own session: not a child's group).
    for sub in ("run", "state", "mail"):
        (root / "dovecot" / sub).mkdir(parents=True, exist_ok=True)
    os.chmod(root, 0o755)  # noqa: S103 - Dovecot's unprivileged users must reach run/
    os.chmod(root / "dovecot", 0o755)  # noqa: S103
    me = pwd.getpwuid(os.getuid()).pw_name
    privileged = os.getuid() == 0
    imap_port = free_port()
    conf = root / "dovecot" / "dovecot.conf"
    conf.write_text(DOVECOT_CONF.format(
        root=root / "dovecot", port=imap_port,
        internal="dovecot" if privileged else me, login="dovenull" if privileged else me,
    ))  # fmt: skip
    dove = subprocess.Popen([dovecot, "-F", "-c", str(conf)], start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    wait_for(lambda: imap_greets(imap_port), "the unrelated Dovecot")
    # Redis with another application's data, on 6379 when free.
    redis_port = 6379 if port_free(6379) else free_port()
    (root / "redis").mkdir()
    red = subprocess.Popen(
        [redis_server, "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(root / "redis")],
        start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    wait_for(lambda: redis(redis_port, ("PING",)) == ["PONG"], "the unrelated Redis")
    for db, pairs in CANARY.items():
        for key, value in pairs.items():
            redis(redis_port, ("SELECT", str(db)), ("SET", key, value))
    run_id = _info(redis_port, "run_id")
    print(
        f"prove-untouched: unrelated dovecot pid {dove.pid} on 127.0.0.1:{imap_port}, "
        f"redis-server pid {red.pid} on 127.0.0.1:{redis_port} with keys in DB 0 and 15"
    )
    return Unrelated(dove, imap_port, red, redis_port, run_id)


def _info(port: int, field: str) -> str:
    for line in str(redis(port, ("INFO", "server"))[0]).splitlines():
        if line.startswith(field + ":"):
            return line.split(":", 1)[1].strip()
    return ""


def verify(state: Unrelated) -> list[str]:
    problems = []
    if not alive(state.dovecot.pid) or state.dovecot.poll() is not None:
        problems.append(f"the unrelated dovecot (pid {state.dovecot.pid}) was stopped")
    else:
        try:
            if not imap_greets(state.imap_port):
                problems.append("the unrelated dovecot no longer greets on its port")
        except OSError as exc:
            problems.append(f"the unrelated dovecot no longer answers: {exc}")
    if not alive(state.redis.pid) or state.redis.poll() is not None:
        problems.append(f"the unrelated redis-server (pid {state.redis.pid}) was stopped")
        return problems
    if _info(state.redis_port, "run_id") != state.run_id:
        problems.append("the unrelated Redis was restarted (run_id changed)")
    for db, pairs in CANARY.items():
        for key, value in pairs.items():
            _, got, size = redis(state.redis_port, ("SELECT", str(db)), ("GET", key), ("DBSIZE",))
            if got != value:
                problems.append(f"Redis DB {db}: key {key} is {got!r}, expected {value!r}")
            if size != len(pairs):
                problems.append(f"Redis DB {db}: {size} keys, expected {len(pairs)} (written to)")
    return problems


def stop(state: Unrelated) -> None:
    for process in (state.redis, state.dovecot):
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()


def main(argv: list[str]) -> int:
    commands: list[list[str]] = []
    for arg in argv:
        if arg == "--":
            commands.append([])
        elif commands:
            commands[-1].append(arg)
    commands = [c for c in commands if c]
    if not commands:
        print(__doc__)
        return 2
    root = Path(tempfile.mkdtemp(prefix="outreach-unrelated-"))
    state = start_services(root)
    status = 0
    try:
        for command in commands:
            print(f"prove-untouched: running {' '.join(command)}", flush=True)
            # The PIDs are announced only so the self-test can play a careless script.
            pids = f"{state.dovecot.pid} {state.redis.pid}"
            env = {**os.environ, "PROVE_UNTOUCHED_PIDS": pids,
                   "PROVE_UNTOUCHED_REDIS_PORT": str(state.redis_port)}  # fmt: skip
            done = subprocess.run(command, check=False, env=env)
            problems = verify(state)
            for problem in problems:
                print(f"prove-untouched: after `{' '.join(command)}`: {problem}", flush=True)
            if not problems:
                print(
                    f"prove-untouched: after `{' '.join(command)}`: the unrelated dovecot and "
                    "redis-server still run, same PIDs, Redis data intact",
                    flush=True,
                )
            if done.returncode != 0:
                print(f"prove-untouched: `{' '.join(command)}` failed ({done.returncode})")
                status = status or done.returncode
            if problems:
                status = status or 1
            if status:
                break
    finally:
        stop(state)
        shutil.rmtree(root, ignore_errors=True)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

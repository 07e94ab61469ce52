"""The IMAP poller on a burst of replies: one transaction per message against one per chunk.

    .venv/bin/python bench/imap_poll.py [--messages 1000] [--rounds 3]

A real Dovecot (tests/support/dovecot.py) holds `--messages` replies written as Gmail writes
them (text and HTML, a ~6 kB invitation quoted; about 20 kB each), appended before any window.
Each round polls the whole folder into a fresh PostgreSQL database twice, interleaved:
  O. one at a time: `poll_mailbox(store=ingest)`, each message and its cursor step committed
     alone (the poller before chunks);
  C. chunks: `poll_mailbox(store=ingest, store_many=ingest_many)`, each fetched chunk of
     `FETCH_BATCH` messages and its cursor step in one transaction (the service's way).
Prints, per design, the median over the rounds of messages/s, this process's CPU per message,
its PostgreSQL backends' CPU per message and commits per message, then C's rate against O's
(measured in the same run). Dovecot's CPU is not counted (it serves both alike). Needs
PostgreSQL as in the tests (OUTREACH_TEST_PG_ADMIN_URL) and Dovecot
(scripts/install-system-deps.sh). Exits 1 when C is not faster than O.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from imapclient import IMAPClient  # noqa: E402
from sqlalchemy import create_engine, event, text  # noqa: E402
from support.dovecot import Dovecot, start_dovecot  # noqa: E402

from bench.intake import backend_cpu, reply  # noqa: E402
from bench.send import PG_ADMIN_URL  # noqa: E402
from worker import migrate  # noqa: E402
from worker.actions.ingest import ingest, ingest_many  # noqa: E402
from worker.db import get_engine, reset_engines, session_factory  # noqa: E402
from worker.mail.inbox import FETCH_BATCH, poll_mailbox  # noqa: E402
from worker.settings import ImapTarget  # noqa: E402


def invitation(n: int) -> bytes:
    """An invitation as the replies quote it: subject, date, sender and ~6 kB of text."""
    msg = EmailMessage()
    msg["From"] = "Human Rights Now <signon@hrn.example>"
    msg["To"] = f"ngo{n}@ngo{n}.example"
    msg["Subject"] = "Invitation to sign: joint letter to the Minister for Foreign Affairs"
    msg["Date"] = format_datetime(datetime.now(UTC))
    msg["Message-ID"] = make_msgid(domain="hrn.example")
    msg["Content-Language"] = "en"
    paragraph = (
        "We invite your organisation to sign our joint letter to the Minister. The letter asks "
        "the government to uphold its commitments and to report on them before the session.\n"
    )
    msg.set_content(f"Dear NGO {n},\n\n" + paragraph * 32 + "\nThe coordinating team\n")
    return msg.as_bytes()


def fill_mailbox(server: Dovecot, n: int) -> None:
    with IMAPClient("127.0.0.1", port=server.port, ssl=False) as client:
        client.login(server.user, server.password)
        for i in range(n):
            email = f"ngo{i}@ngo{i}.example"
            client.append("INBOX", reply(email, uuid.uuid4().hex[:16], i, invitation(i)))


def fresh_database() -> str:
    name = f"bench_imap_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    migrate.upgrade(url)
    return url


def drop_database(url: str) -> None:
    reset_engines()
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)'))
    admin.dispose()


def one_poll(target: ImapTarget, n: int, chunks: bool) -> dict[str, float]:
    url = fresh_database()
    try:
        sessions = session_factory(url)
        commits = 0

        def count(*_: object) -> None:
            nonlocal commits
            commits += 1

        with sessions() as warm:  # the pool's first connection opens outside the window
            warm.execute(text("SELECT 1"))
        event.listen(get_engine(url), "commit", count)
        extra: dict[str, Any] = {"store_many": ingest_many} if chunks else {}
        pg0, c0, t0 = backend_cpu(url), time.process_time(), time.perf_counter()
        result = poll_mailbox(target, sessions, store=ingest, **extra)
        elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
        pg = backend_cpu(url) - pg0
        if len(result.stored) != n or result.duplicates:
            raise SystemExit(f"stored {len(result.stored)} of {n} ({result.duplicates} dup)")
        return {"rate": n / elapsed, "cpu": 1000 * cpu / n, "pg": 1000 * pg / n,
                "commits": commits / n}  # fmt: skip
    finally:
        drop_database(url)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    n, rounds = args.messages, max(3, args.rounds)
    root = Path(tempfile.mkdtemp(prefix="bench-imap-"))
    server = start_dovecot(root / "dovecot")
    try:
        t0 = time.perf_counter()
        fill_mailbox(server, n)
        print(f"{n:,} replies appended to Dovecot in {time.perf_counter() - t0:.0f} s "
              f"(chunks of {FETCH_BATCH}); load average {os.getloadavg()[0]:.2f}")  # fmt: skip
        target = ImapTarget(host="127.0.0.1", port=server.port, username=server.user,
                            password=server.password, ssl=False, folder="INBOX")  # fmt: skip
        runs: dict[str, list[dict[str, float]]] = {"O": [], "C": []}
        for _ in range(rounds):  # O C, O C, ...: drifting load hits both alike
            runs["O"].append(one_poll(target, n, chunks=False))
            runs["C"].append(one_poll(target, n, chunks=True))
        names = {"O": "O. one transaction per message", "C": "C. one transaction per chunk"}
        print(f"{'design':34} {'msgs/s':>8} {'CPU ms/msg':>11} {'PG ms/msg':>10} "
              f"{'commits/msg':>12}  rounds msgs/s")  # fmt: skip
        medians = {}
        for key, design in runs.items():
            m = {k: statistics.median(r[k] for r in design) for k in design[0]}
            medians[key] = m
            each = " ".join(f"{r['rate']:.0f}" for r in design)
            print(f"{names[key]:34} {m['rate']:8.0f} {m['cpu']:11.2f} {m['pg']:10.2f} "
                  f"{m['commits']:12.2f}  {each}")  # fmt: skip
        ratio = medians["C"]["rate"] / medians["O"]["rate"]
        ok = ratio > 1.0
        print(f"C / O, messages/s: {ratio:.2f}x ({'PASS' if ok else 'FAIL'}: chunks must be "
              f"faster); load average {os.getloadavg()[0]:.2f}")  # fmt: skip
        if not ok:
            raise SystemExit(1)
    finally:
        server.stop()


if __name__ == "__main__":
    main()

"""Reply intake throughput on PostgreSQL: store and process N replies, as the intake worker does.

    .venv/bin/python bench/intake.py [--invitations 100000] [--replies 1000]

A campaign of `--invitations` invited contacts (so lookups run against big tables), then
`--replies` signature replies written the way mail clients write them (From the contact,
To the invitation's reply address, quoting nothing), each stored (`ingest`, its own
transaction, as the IMAP poller and the LMTP listener do) and processed as the intake worker
does: `--batch` stored messages per "intake.process_batch" task (`process_batch`: one
transaction; match, verify, classify, record, acknowledge); `--batch 1` is the one-message
task (`process_now`). All in this process, one after the other, acknowledgements published to
an in-memory broker. Prints replies/s, SQL statements and commits per reply, and the CPU of
this process and of its PostgreSQL backends. Target: >= 300 replies/s. Exits 1 when missed.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import sys
import time
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from sqlalchemy import create_engine, event, select, text  # noqa: E402

from bench.send import PG_ADMIN_URL, SECRET, store_campaign  # noqa: E402
from worker import migrate  # noqa: E402
from worker.actions.intake import BATCH_SIZE  # noqa: E402


def backend_cpu(url: str) -> float:
    """User + system CPU seconds of the PostgreSQL backends serving this database."""
    with create_engine(PG_ADMIN_URL).connect() as conn:
        pids = conn.scalars(
            text("SELECT pid FROM pg_stat_activity WHERE datname = :d"),
            {"d": url.rsplit("/", 1)[1]},
        ).all()
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def reply(email: str, token: str, n: int) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"NGO {n} <{email}>"
    msg["To"] = f"signon+{token}@hrn.example"
    msg["Subject"] = "Re: Invitation to sign the joint letter"
    msg["Date"] = format_datetime(datetime.now(UTC))
    msg["Message-ID"] = make_msgid(domain=email.split("@")[1])
    msg.set_content(f"We sign.\n\nNGO number {n}\n")
    return msg.as_bytes()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--invitations", type=int, default=100_000)
    parser.add_argument("--replies", type=int, default=1000)
    parser.add_argument(
        "--batch", type=int, default=BATCH_SIZE, help="stored messages per processing task"
    )
    parser.add_argument(
        "--profile", metavar="FILE", help="write a cProfile of the measured loop to FILE"
    )
    args = parser.parse_args()
    name = f"bench_intake_{os.getpid()}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    os.environ.update(
        {
            "OUTREACH_DATABASE_URL": url,
            "OUTREACH_SECRET_KEY": SECRET,
            "OUTREACH_BROKER_URL": "memory://",
            "OUTREACH_IMAP_URL": "",
            "OUTREACH_LOG_LEVEL": "WARNING",
        }
    )
    try:
        migrate.upgrade(url)
        from worker.actions.ingest import ingest
        from worker.actions.intake import process_batch, process_now
        from worker.db import get_engine, session_scope
        from worker.logs import configure_logging
        from worker.models import Contact, Invitation
        from worker.tasks.publisher import install_celery_publisher

        configure_logging()  # as every worker process does (level from OUTREACH_LOG_LEVEL)
        install_celery_publisher()  # acknowledgements go to an in-memory broker here

        t0 = time.perf_counter()
        campaign_id = store_campaign(url, args.invitations, "bench-intake", "open")
        with get_engine(url).begin() as conn:
            conn.execute(text("UPDATE invitation SET state = 'invited', invited_at = now()"))
        with create_engine(url, isolation_level="AUTOCOMMIT").connect() as conn:
            conn.execute(text("VACUUM ANALYZE"))
        with session_scope(url) as session:
            rows = session.execute(
                select(Contact.email, Invitation.token)
                .join(Invitation, Invitation.contact_id == Contact.id)
                .where(Invitation.campaign_id == campaign_id)
                .order_by(Invitation.id)
                .limit(args.replies)
            ).all()
        mails = [reply(email, token, i) for i, (email, token) in enumerate(rows)]
        print(f"{args.invitations:,} invitations stored in {time.perf_counter() - t0:.0f} s")
        trips = commits = 0

        def count(*_: object) -> None:
            nonlocal trips
            trips += 1

        def count_commit(*_: object) -> None:
            nonlocal commits
            commits += 1

        event.listen(get_engine(url), "before_cursor_execute", count)
        event.listen(get_engine(url), "commit", count_commit)
        actions: dict[str, int] = {}
        n = len(mails)
        pg0 = backend_cpu(url)
        profiler = cProfile.Profile() if args.profile else None
        if profiler:
            profiler.enable()
        t0, c0 = time.perf_counter(), time.process_time()
        store_cpu = 0.0
        for start in range(0, n, args.batch):
            stored: list[int] = []
            s0 = time.process_time()
            for raw in mails[start : start + args.batch]:
                with session_scope(url) as session:
                    inbound_id = ingest(session, raw, source="bench", now=datetime.now(UTC))
                assert inbound_id is not None
                stored.append(inbound_id)
            store_cpu += time.process_time() - s0
            outcomes = process_batch(stored) if args.batch > 1 else [process_now(stored[0])]
            for outcome in outcomes:
                actions[outcome.action] = actions.get(outcome.action, 0) + 1
        elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
        if profiler:
            profiler.disable()
            profiler.dump_stats(args.profile)
        pg_cpu = backend_cpu(url) - pg0
        rate = n / elapsed
        print(f"{n} replies (batch {args.batch}) in {elapsed:.1f} s: {rate:.0f} replies/s; "
              f"CPU per reply: this process {1000 * cpu / n:.1f} ms (storing "
              f"{1000 * store_cpu / n:.1f}, processing {1000 * (cpu - store_cpu) / n:.1f}), "
              f"its PostgreSQL backends "
              f"{1000 * pg_cpu / n:.1f} ms; per reply {trips / n:.1f} SQL statements + "
              f"{commits / n:.1f} commits; actions {actions}")  # fmt: skip
        print(f"target >= 300 replies/s: {'PASS' if rate >= 300 else 'FAIL'}; load average "
              f"{Path('/proc/loadavg').read_text().split()[:3]}")  # fmt: skip
        ok = rate >= 300
    finally:
        from worker.db import reset_engines

        reset_engines()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()

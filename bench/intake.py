"""Reply intake throughput on PostgreSQL: store and process N replies, as the intake worker does.

    .venv/bin/python bench/intake.py [--invitations 100000] [--replies 1000]

A campaign of `--invitations` invited contacts (so lookups run against big tables), then
`--replies` signature replies written the way mail clients write them (From the contact,
To the invitation's reply address, quoting nothing), each stored (`ingest`) and processed
(`process_now`: match, verify, classify, record, acknowledge) in its own transactions, one
after the other in this process (no broker). Prints replies/s and database round trips per
reply. Target: >= 300 replies/s. Exits 1 when missed.
"""

from __future__ import annotations

import argparse
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
        from worker.actions.intake import process_now
        from worker.db import get_engine, session_scope
        from worker.models import Contact, Invitation
        from worker.tasks.publisher import install_celery_publisher

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
        trips = 0

        def count(*_: object) -> None:
            nonlocal trips
            trips += 1

        event.listen(get_engine(url), "before_cursor_execute", count)
        actions: dict[str, int] = {}
        t0, c0 = time.perf_counter(), time.process_time()
        for raw in mails:
            with session_scope(url) as session:
                inbound_id = ingest(session, raw, source="bench", now=datetime.now(UTC))
            assert inbound_id is not None
            outcome = process_now(inbound_id)
            actions[outcome.action] = actions.get(outcome.action, 0) + 1
        elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
        rate = len(mails) / elapsed
        print(f"{len(mails)} replies in {elapsed:.1f} s: {rate:.0f} replies/s; this process's "
              f"CPU {1000 * cpu / len(mails):.1f} ms/reply; {trips / len(mails):.1f} database "
              f"round trips per reply; actions {actions}")  # fmt: skip
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

"""Cost of one beat tick (the due-scan) at 100k and 1M invitations with nothing due, on PostgreSQL.

    .venv/bin/python bench/scan.py [--sizes 100000 1000000] [--ticks 7]

For each size: one campaign of N invited contacts, then the tick exactly as the "scan.due"
task runs it (`plan_scan` with the dispatch budget, in one transaction), timed over `--ticks`
ticks; median and max wall time printed (and the CPU of the tick: this process plus its
PostgreSQL backend, which a busy machine moves less), in two situations:
  idle      -- between the invitation and the first reminder's time (nothing can be due);
  reminded  -- the first reminder's time has passed and every invitation was reminded.
For reference the same run times the old way of finding due rows (every pending and invited
row read into Python, `scan.invitation_views` + the pure schedule), once per size.
Targets: median tick < 50 ms at 100k, < 200 ms at 1M. Exits 1 when missed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests" / "support"))

from bulk import bulk_campaign_sql  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402

from worker import migrate  # noqa: E402
from worker.actions import due, scan  # noqa: E402
from worker.core import schedule  # noqa: E402
from worker.db import reset_engines, session_factory  # noqa: E402
from worker.models import Campaign  # noqa: E402

PG_ADMIN_URL = os.environ.get(
    "OUTREACH_TEST_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
TARGETS_MS = {100_000: 50.0, 1_000_000: 200.0}


def backend_cpu(pid: int) -> float:
    """CPU seconds of one PostgreSQL backend (it runs on this machine, as in the tests)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tick_ms(url: str, now: datetime) -> tuple[float, float]:
    """(wall ms, CPU ms of this process plus its database backend) of one tick."""
    window = timedelta(seconds=30)
    with session_factory(url)() as session, session.begin():
        backend = int(session.scalar(text("SELECT pg_backend_pid()")) or 0)
        cpu0, server0 = time.process_time(), backend_cpu(backend)
        t0 = time.perf_counter()
        plan = scan.plan_scan(
            session,
            now=now,
            lease=timedelta(seconds=20),
            budget=due.dispatch_budget(600, window),
            dispatch_until=now + window,
        )
        elapsed = (time.perf_counter() - t0) * 1000
        cpu = (time.process_time() - cpu0 + backend_cpu(backend) - server0) * 1000
    assert not plan.work, f"something was due: {plan.work[:1]}"
    return elapsed, cpu


def old_tick_ms(url: str, campaign_id: int, now: datetime) -> float:
    with session_factory(url)() as session:
        campaign = session.get(Campaign, campaign_id)
        assert campaign is not None
        t0 = time.perf_counter()
        views = scan.invitation_views(session, campaign_id)
        found = schedule.due_at(scan.campaign_plan(campaign), views, now)
        elapsed = (time.perf_counter() - t0) * 1000
    assert not (found.invitations or found.reminders)
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--ticks", type=int, default=7)
    args = parser.parse_args()
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    ok = True
    print(f"load average before: {Path('/proc/loadavg').read_text().split()[:3]}")
    for n in args.sizes:
        name = f"bench_scan_{os.getpid()}_{n}"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
        try:
            migrate.upgrade(url)
            now = datetime.now(UTC)
            t0 = time.perf_counter()
            with session_factory(url)() as session:
                cid = bulk_campaign_sql(session, n, slug=f"scan{n}", now=now)
            with create_engine(url, isolation_level="AUTOCOMMIT").connect() as conn:
                conn.execute(text("VACUUM ANALYZE"))
            print(f"\n{n:,} invitations stored in {time.perf_counter() - t0:.0f} s")
            idle = [tick_ms(url, now) for _ in range(args.ticks)]
            old = old_tick_ms(url, cid, now)
            # The first reminder (3 days before the 10-day deadline) has come; all reminded.
            later = now + timedelta(days=8)
            with create_engine(url, isolation_level="AUTOCOMMIT").connect() as conn:
                conn.execute(text("UPDATE invitation SET reminders_sent = 1"))
                conn.execute(text("VACUUM ANALYZE invitation"))
            reminded = [tick_ms(url, later) for _ in range(args.ticks)]
            target = TARGETS_MS.get(n)
            for label, measured in (("idle", idle), ("reminded", reminded)):
                ticks = [wall for wall, _ in measured]
                cpu = statistics.median(c for _, c in measured)
                median = statistics.median(ticks)
                verdict = ""
                if target is not None:
                    passed = median < target
                    ok = ok and passed
                    verdict = f"target < {target:.0f} ms: {'PASS' if passed else 'FAIL'}"
                print(
                    f"  tick, {label:8s}: median {median:7.1f} ms, max {max(ticks):7.1f} ms "
                    f"over {len(ticks)} ticks (CPU, client + database backend: median "
                    f"{cpu:.1f} ms)   {verdict}"
                )
            print(
                f"  old way (all pending+invited rows into Python), once: {old:8.1f} ms "
                f"({old / statistics.median(w for w, _ in idle):.0f}x the idle tick)"
            )
        finally:
            reset_engines()
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    print(f"\nload average after: {Path('/proc/loadavg').read_text().split()[:3]}")
    admin.dispose()
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()

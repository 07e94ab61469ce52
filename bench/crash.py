"""Sending under crashes and a flaky relay: real Celery worker and beat, PostgreSQL, Redis, SMTP.

    .venv/bin/python bench/crash.py kills  [--n 2000] [--kills 10]
    .venv/bin/python bench/crash.py flaky  [--n 1000] [--rate 0.3] [--dead 20]

kills: a campaign of N contacts at the DEFAULT settings (rate limit, lease, scan interval,
  batch size, dispatch window); the worker (and its pool) is SIGKILLed `--kills` times, spread
  over the send (each when another 1/(kills+1.5) of the campaign has gone out), and restarted at
  once. Prints: lost recipients, duplicates (extra copies at the relay), whether each
  recipient's copies share one Message-ID, and the seconds from the last kill until every row
  is recorded `sent`.
flaky: the relay answers a random `--rate` of RCPTs with 421 or 451 and refuses `--dead`
  addresses with 550 (retry base 1 s so the run is short; the retry window stays at its
  3-day default). Prints: good addresses delivered, dead addresses' attempts (must be 1 each),
  rows failed.
Exits 1 when a target is missed. Needs PostgreSQL and Redis as in the tests.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests" / "support"))

from smtp_sink import SmtpSink  # noqa: E402
from sqlalchemy import create_engine, func, select, text  # noqa: E402

from bench.send import PG_ADMIN_URL, SECRET, bench_redis, store_campaign  # noqa: E402
from worker import migrate  # noqa: E402
from worker.models import Contact, OutboundMessage  # noqa: E402

CELERY = str(REPO / ".venv" / "bin" / "celery")


def start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [CELERY, "-A", "worker.celery_app", *args], cwd=REPO, env=env, stdout=out,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip


def start_worker(env: dict[str, str], folder: Path) -> subprocess.Popen[bytes]:
    return start(
        ["worker", "-Q", "sending,scheduling", "-P", "prefork", "-c", "2",
         "--without-heartbeat", "--without-gossip", "--without-mingle", "-l", "WARNING",
         "-n", f"crash-{uuid.uuid4().hex[:6]}@%h"],
        env, folder / "worker.log",
    )  # fmt: skip


def kill_group(process: subprocess.Popen[bytes], sig: int = signal.SIGKILL) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def states(engine: object, campaign_id: int) -> Counter[str]:
    with engine.connect() as conn:  # type: ignore[attr-defined]
        rows = conn.execute(
            select(OutboundMessage.state, func.count())
            .where(OutboundMessage.campaign_id == campaign_id)
            .group_by(OutboundMessage.state)
        ).all()
    return Counter({state: int(count) for state, count in rows})


def run_kills(
    n: int, kills: int, env: dict[str, str], url: str, sink: SmtpSink, folder: Path
) -> bool:
    campaign_id = store_campaign(url, n, f"crash-{uuid.uuid4().hex[:6]}", "open")
    engine = create_engine(url)
    worker = start_worker(env, folder)
    beat = start(
        ["beat", "-s", str(folder / "beat-schedule"), "-l", "WARNING"], env, folder / "beat.log"
    )
    killed_at: list[float] = []
    t0 = time.monotonic()
    try:
        step = n / (kills + 1.5)
        for k in range(kills):
            while len(sink.messages()) < (k + 1) * step:
                time.sleep(0.2)
                if time.monotonic() - t0 > 1800:
                    raise RuntimeError("no progress for 30 minutes; see " + str(folder))
            kill_group(worker)
            killed_at.append(time.monotonic())
            print(
                f"  kill {k + 1:2d} at {killed_at[-1] - t0:6.1f} s,",
                f"{len(sink.messages())} at the relay",
            )
            worker = start_worker(env, folder)
        while states(engine, campaign_id)["sent"] < n:
            time.sleep(0.2)
            if time.monotonic() - killed_at[-1] > 900:
                raise RuntimeError(
                    f"not all sent 15 minutes after the last kill: {states(engine, campaign_id)}"
                )
        done_at = time.monotonic()
    finally:
        kill_group(worker, signal.SIGTERM)
        kill_group(beat, signal.SIGTERM)
    time.sleep(1)
    messages = sink.messages()
    with engine.connect() as conn:
        emails = set(conn.scalars(select(Contact.email).where(Contact.campaign_id == campaign_id)))
    engine.dispose()
    ids: dict[str, set[str]] = {}
    for m in messages:
        ids.setdefault(m["rcpt_tos"][0], set()).add(m["message_id"])
    lost = len(emails - set(ids))
    duplicates = len(messages) - len(ids)
    one_id = all(len(v) == 1 for v in ids.values())
    after = done_at - killed_at[-1]
    print(f"kills: {kills}; contacts: {n}; total {done_at - t0:.1f} s")
    print(f"  lost: {lost}   duplicates: {duplicates}   one Message-ID per recipient: {one_id}")
    print(f"  all recorded sent {after:.1f} s after the last kill")
    ok = lost == 0 and duplicates <= kills and one_id and after <= 60
    print(
        "  RESULT:",
        "PASS" if ok else "FAIL",
        "(targets: 0 lost, duplicates <= kills, one id, <= 60 s)",
    )
    return ok


def run_flaky(
    n: int, rate: float, dead: int, env: dict[str, str], url: str, sink: SmtpSink, folder: Path
) -> bool:
    campaign_id = store_campaign(url, n, f"flaky-{uuid.uuid4().hex[:6]}", "open")
    engine = create_engine(url)
    with engine.connect() as conn:
        emails = sorted(
            conn.scalars(select(Contact.email).where(Contact.campaign_id == campaign_id))
        )
    dead_emails = set(emails[:: max(1, n // dead)][:dead])
    sink.set_rules(
        {"reject": dict.fromkeys(dead_emails, 550), "flaky": {"rate": rate, "codes": [421, 451]}}
    )
    env = {
        **env,
        "OUTREACH_OUTBOX_RETRY_BASE_SECONDS": "1",
        "OUTREACH_SMTP_RATE_PER_MINUTE": "6000",
    }
    worker = start_worker(env, folder)
    beat = start(
        ["beat", "-s", str(folder / "beat-schedule-flaky"), "-l", "WARNING"],
        env,
        folder / "beat.log",
    )
    t0 = time.monotonic()
    try:
        while True:
            s = states(engine, campaign_id)
            if s["sent"] + s["failed"] >= n and not (s["retry"] or s["queued"] or s["sending"]):
                break
            time.sleep(0.5)
            if time.monotonic() - t0 > 1200:
                raise RuntimeError(f"not settled after 20 minutes: {s}")
    finally:
        kill_group(worker, signal.SIGTERM)
        kill_group(beat, signal.SIGTERM)
    engine.dispose()
    delivered = {m["rcpt_tos"][0] for m in sink.messages()}
    refused = sink.refused()
    dead_attempts = Counter(r["rcpt"] for r in refused if r["rcpt"] in dead_emails)
    temporary = sum(1 for r in refused if r["code"] in (421, 451))
    good = set(emails) - dead_emails
    print(
        f"flaky relay: {rate:.0%} of RCPTs 421/451 ({temporary} such answers),",
        f"{len(dead_emails)} dead addresses",
    )
    print(f"  good delivered: {len(good & delivered)}/{len(good)}; final states {dict(s)}")
    print(f"  dead addresses tried: {sorted(set(dead_attempts.values()))} time(s) each; "
          f"delivered to dead: {len(dead_emails & delivered)}")  # fmt: skip
    ok = (
        good <= delivered
        and set(dead_attempts.values()) == {1}
        and len(dead_attempts) == len(dead_emails)
    )
    ok = ok and s["failed"] == len(dead_emails)
    print("  RESULT:", "PASS" if ok else "FAIL", f"({time.monotonic() - t0:.0f} s)")
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("scenario", choices=["kills", "flaky"])
    parser.add_argument("--n", type=int, default=0)
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--rate", type=float, default=0.3)
    parser.add_argument("--dead", type=int, default=20)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # clean up the processes too
    folder = Path(tempfile.mkdtemp(prefix=f"bench-crash-{args.scenario}-"))
    name = f"bench_crash_{os.getpid()}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    sink = SmtpSink(folder / "sink").start()
    redis_url, own_redis = bench_redis()  # never the machine's Redis
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "OUTREACH_DATABASE_URL": url,
        "OUTREACH_BROKER_URL": redis_url,
        "OUTREACH_DATA_DIR": str(folder / "data"),
        "OUTREACH_SECRET_KEY": SECRET,
        "OUTREACH_SMTP_URL": sink.url,
        "OUTREACH_IMAP_URL": "",
    }
    print(f"logs in {folder}")
    try:
        migrate.upgrade(url)
        if args.scenario == "kills":
            ok = run_kills(args.n or 2000, args.kills, env, url, sink, folder)
        else:
            ok = run_flaky(args.n or 1000, args.rate, args.dead, env, url, sink, folder)
    finally:
        sink.stop()
        if own_redis is not None:
            own_redis.stop()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()

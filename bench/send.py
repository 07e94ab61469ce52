"""Sending throughput: outbox rows -> Celery on Redis -> SMTP, against two baselines, same run.

    .venv/bin/python bench/send.py [--n 5000] [--memory-check] [--skip-naive]

1. plain: no queue, no database; one process per core renders its share of the contacts
   (prepare_contact_email, the same template) and sends over one reused connection
   (worker/mail/smtp.Sender) -- the ceiling.
2. end to end: a campaign of N pending invitations in PostgreSQL; one "scan.due" task; the
   worker (prefork, one process per core, prefetch 1) runs "scan.invite" tasks of
   OUTREACH_OUTBOX_BATCH_SIZE invitations: render, insert the outbox rows already claimed under
   a lease, mark the invitations and audit them, commit, then send over the process's reused
   connection and record every answer. Timed until every row is `sent` in the database.
3. naive: one Celery task per email that loads the invitation, renders and opens a new SMTP
   connection for each message.
All go to a minimal asyncio sink (bench/smtp_sink.py) on loopback. CPU per message is the
whole machine's busy CPU time (workers, PostgreSQL, Redis, the sink) divided by N; peak RSS is
the sampled peak of the sending processes (the plain processes, or the Celery worker tree).
--memory-check also runs the end-to-end case at 4N and compares the workers' peak RSS.
Exits 1 when a target is missed. Needs PostgreSQL and Redis as in the tests
(OUTREACH_TEST_PG_ADMIN_URL, OUTREACH_TEST_REDIS_DB). Other load on the machine moves the
figures: compare the load averages printed before and after.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import redis  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402
from sqlalchemy import create_engine, func, select, text  # noqa: E402

from worker import migrate  # noqa: E402
from worker.core.tokens import make_token  # noqa: E402
from worker.models import Campaign, Contact, Invitation, Organisation, OutboundMessage  # noqa: E402

PG_ADMIN_URL = os.environ.get(
    "OUTREACH_TEST_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REDIS_DB = int(os.environ.get("OUTREACH_TEST_REDIS_DB", "3"))
REDIS_URL = f"redis://127.0.0.1:6379/{REDIS_DB}"
SECRET = "bench-secret-key"  # noqa: S105 (a throwaway key for a throwaway database)
CORES = os.cpu_count() or 2
CELERY = str(REPO / ".venv" / "bin" / "celery")


# --- measuring ------------------------------------------------------------------------------


def busy_cpu_seconds() -> float:
    """Busy CPU time of the whole machine (all processes), from /proc/stat."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    values = [int(v) for v in fields]
    idle = values[3] + values[4]
    return (sum(values[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def tree_rss_mb(roots: list[int]) -> float:
    """Resident memory of some processes and all their descendants."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                stat = (entry / "stat").read_text()
                parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    family = set(roots)
    changed = True
    while changed:
        changed = False
        for pid, ppid in parents.items():
            if ppid in family and pid not in family:
                family.add(pid)
                changed = True
    total = 0
    for pid in family:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total / 1024


class PeakMemory:
    """Samples the resident memory of the given processes' trees every 0.2 s; keeps the peak."""

    def __init__(self, pids: list[int]) -> None:
        self.pids, self.peak, self._stop = pids, 0.0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, tree_rss_mb(self.pids))
            time.sleep(0.2)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def sink_count(port: int) -> int:
    with socket.create_connection(("127.0.0.1", port)) as s:
        f = s.makefile("rwb")
        f.readline()
        f.write(b"XCNT\r\n")
        f.flush()
        return int(f.readline().split()[1])


# --- the campaign ---------------------------------------------------------------------------


def stored_definition(slug: str) -> dict[str, Any]:
    from worker.actions.load_campaign import read_definition

    definition = copy.deepcopy(
        read_definition(REPO / "config" / "campaigns" / "icc-2024.yaml").stored
    )
    now = datetime.now(UTC)
    definition["slug"] = slug
    definition["schedule"]["invite_at"] = (now - timedelta(minutes=1)).isoformat()
    definition["schedule"]["deadline"] = (now + timedelta(days=10)).isoformat()
    definition["schedule"]["quiet_hours"] = {"start": "00:00", "end": "00:00"}
    return definition


def campaign_rows(
    n: int, slug: str, state: str = "open", share: tuple[int, int] = (0, 1)
) -> tuple[Campaign, list[Invitation]]:
    """The campaign and its invitations; `share` (index, workers) keeps every workers-th one."""
    definition = stored_definition(slug)
    campaign = Campaign(
        slug=slug, title=definition["title"]["en"], state=state, timezone="Asia/Tokyo",
        languages=definition["languages"],
        invite_at=datetime.fromisoformat(definition["schedule"]["invite_at"]),
        deadline=datetime.fromisoformat(definition["schedule"]["deadline"]),
        requires_approval=True, definition=definition, definition_hash="d" * 64,
        letter_hash="l" * 64,
    )  # fmt: skip
    invitations = []
    for i in range(share[0], n, share[1]):
        lang = "ja" if i % 3 == 0 else "en"
        org = Organisation(key=f"o{i}", name_en=f"NGO {i}", name_ja=f"団体{i}", language=lang)
        email = f"ngo{i}@ngo{i}.example"
        contact = Contact(email=email, language=lang, organisation=org)
        inv = Invitation(
            token=make_token(SECRET.encode(), slug, email), language=lang,
            contact=contact, organisation=org, state="pending",
        )  # fmt: skip
        invitations.append(inv)
    return campaign, invitations


def store_campaign(url: str, n: int, slug: str, state: str) -> int:
    from worker.db import session_factory

    campaign, invitations = campaign_rows(n, slug, state)
    with session_factory(url)() as session, session.begin():
        session.add(campaign)
        session.flush()
        for inv in invitations:
            inv.campaign_id = inv.organisation.campaign_id = inv.contact.campaign_id = campaign.id
        session.add_all(invitations)  # organisations and contacts follow by cascade
        session.flush()
        return campaign.id


# --- the three designs ----------------------------------------------------------------------


def _plain_worker(n: int, index: int, workers: int, port: int, done: Any) -> None:
    """One process: render its share and send over one reused connection."""
    from worker.mail.outgoing import prepare_contact_email
    from worker.mail.smtp import Envelope, Sender
    from worker.settings import SmtpTarget

    campaign, invitations = campaign_rows(n, "bench-plain", share=(index, workers))
    sender = Sender(SmtpTarget(scheme="smtp", host="127.0.0.1", port=port))
    sent = 0
    batch: list[Envelope] = []
    for inv in invitations:
        p = prepare_contact_email(
            campaign, inv, "invitation", 0, secret=SECRET.encode(), now=datetime.now(UTC)
        )
        batch.append(Envelope(p.envelope_from, list(p.recipients), p.raw, p.message_id))
        if len(batch) == 50:
            sent += sum(r.is_sent for r in sender.send_many(batch))
            batch = []
    sent += sum(r.is_sent for r in sender.send_many(batch))
    sender.close()
    done.put(sent)


def run_plain(n: int, port: int) -> dict[str, float]:
    before = sink_count(port)
    ctx = multiprocessing.get_context("fork")
    done = ctx.Queue()
    cpu0, t0 = busy_cpu_seconds(), time.perf_counter()
    workers = [
        ctx.Process(target=_plain_worker, args=(n, i, CORES, port, done)) for i in range(CORES)
    ]
    for process in workers:
        process.start()
    with PeakMemory([p.pid for p in workers if p.pid is not None]) as memory:
        sent = sum(done.get(timeout=900) for _ in workers)
        for process in workers:
            process.join()
    elapsed, cpu = time.perf_counter() - t0, busy_cpu_seconds() - cpu0
    assert sent == n and sink_count(port) - before == n, "plain: not everything was sent"
    return {"seconds": elapsed, "cpu": cpu, "peak_mb": memory.peak}


def start_worker(app: str, queues: str, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [CELERY, "-A", app, "worker", "-Q", queues, "-P", "prefork", "-c", str(CORES),
         "--without-heartbeat", "--without-gossip", "--without-mingle", "-l", "INFO",
         "-n", f"bench-{uuid.uuid4().hex[:6]}@%h"],
        cwd=REPO, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while b"ready." not in log.read_bytes():
        if time.monotonic() > deadline or process.poll() is not None:
            raise RuntimeError(f"worker did not start; see {log}")
        time.sleep(0.2)
    time.sleep(1.0)  # let the pool children finish importing
    return process


def stop(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def sent_rows(engine: Any, campaign_id: int) -> int:
    with engine.connect() as conn:
        count = conn.scalar(
            select(func.count(OutboundMessage.id)).where(
                OutboundMessage.campaign_id == campaign_id, OutboundMessage.state == "sent"
            )
        )
    return int(count or 0)


def run_end_to_end(n: int, url: str, env: dict[str, str], folder: Path) -> dict[str, float]:
    """Timed until every row is recorded `sent`. The sink's counter is watched first (cheap),
    the database only once the sink has them all, so the watching does not load PostgreSQL."""
    from worker.celery_app import app

    slug = f"bench-e2e-{uuid.uuid4().hex[:6]}"
    campaign_id = store_campaign(url, n, slug, "open")
    engine = create_engine(url)
    worker = start_worker("worker.celery_app", "sending,scheduling", env, folder / f"e2e-{n}.log")
    port = int(env["OUTREACH_SMTP_URL"].rsplit(":", 1)[1])
    before = sink_count(port)
    try:
        with PeakMemory([worker.pid]) as memory:
            cpu0, t0 = busy_cpu_seconds(), time.perf_counter()
            app.send_task("scan.due")
            while sink_count(port) - before < n or sent_rows(engine, campaign_id) < n:
                time.sleep(0.05)
                if time.perf_counter() - t0 > 600:
                    sent = sent_rows(engine, campaign_id)
                    raise RuntimeError(f"end to end: only {sent} of {n} sent after 10 minutes")
            elapsed, cpu = time.perf_counter() - t0, busy_cpu_seconds() - cpu0
    finally:
        stop(worker)
        engine.dispose()
    assert sink_count(port) - before == n, "end to end: the sink got duplicates"
    return {"seconds": elapsed, "cpu": cpu, "peak_mb": memory.peak}


def run_naive(n: int, url: str, env: dict[str, str], folder: Path, port: int) -> dict[str, float]:
    slug = f"bench-naive-{uuid.uuid4().hex[:6]}"
    campaign_id = store_campaign(url, n, slug, "draft")
    engine = create_engine(url)
    with engine.connect() as conn:
        ids = conn.scalars(select(Invitation.id).where(Invitation.campaign_id == campaign_id)).all()
    engine.dispose()
    naive_env = {**env, "BENCH_SINK_PORT": str(port)}
    worker = start_worker("bench.naive_app", "celery", naive_env, folder / "naive.log")
    os.environ.update({"OUTREACH_BROKER_URL": REDIS_URL, "OUTREACH_SECRET_KEY": SECRET})
    from bench.naive_app import app as naive

    before = sink_count(port)
    try:
        with PeakMemory([worker.pid]) as memory:
            cpu0, t0 = busy_cpu_seconds(), time.perf_counter()
            with naive.producer_or_acquire() as producer:
                for inv_id in ids:
                    naive.send_task("naive.send", args=[inv_id], producer=producer)
            while sink_count(port) - before < n:
                time.sleep(0.1)
                if time.perf_counter() - t0 > 900:
                    raise RuntimeError("naive: not finished after 15 minutes")
            elapsed, cpu = time.perf_counter() - t0, busy_cpu_seconds() - cpu0
    finally:
        stop(worker)
    return {"seconds": elapsed, "cpu": cpu, "peak_mb": memory.peak}


def load_average() -> str:
    one, five, fifteen = Path("/proc/loadavg").read_text().split()[:3]
    return f"{one} {five} {fifteen}"


def results_table(rows: list[tuple[str, int, dict[str, float]]]) -> Table:
    table = Table(title="Sending throughput (same run, same template, same sink)")
    for header in ("design", "messages", "seconds", "msgs/s", "CPU ms/msg", "peak RSS MB"):
        table.add_column(header, justify="left" if header == "design" else "right")
    for name, n, r in rows:
        table.add_row(
            name,
            f"{n:,}",
            f"{r['seconds']:.2f}",
            f"{n / r['seconds']:.0f}",
            f"{1000 * r['cpu'] / n:.2f}",
            f"{r['peak_mb']:.0f}",
        )
    return table


def targets_table(checks: list[tuple[str, float, str, bool]]) -> Table:
    table = Table(title="Targets (issue 3)")
    for header in ("target", "measured", "required", "result"):
        table.add_column(header, justify="left" if header == "target" else "right")
    for name, value, required, ok in checks:
        table.add_row(
            name, f"{value:.2f}", required, "[green]PASS[/]" if ok else "[bold red]FAIL[/]"
        )
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--memory-check", action="store_true", help="also run end to end at 4N")
    parser.add_argument("--skip-naive", action="store_true")
    args = parser.parse_args()
    console = Console(width=None if sys.stdout.isatty() else 100)

    folder = Path(tempfile.mkdtemp(prefix="bench-send-"))
    name = f"bench_send_{os.getpid()}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    sink = subprocess.Popen(
        [sys.executable, str(REPO / "bench" / "smtp_sink.py"), str(folder / "port")]
    )
    try:
        migrate.upgrade(url)
        while not (folder / "port").exists() or not (folder / "port").read_text():
            time.sleep(0.05)
        port = int((folder / "port").read_text())
        redis.Redis.from_url(REDIS_URL).flushdb()
        env = {
            **os.environ,
            "PYTHONPATH": str(REPO),
            "OUTREACH_DATABASE_URL": url,
            "OUTREACH_BROKER_URL": REDIS_URL,
            "OUTREACH_DATA_DIR": str(folder / "data"),
            "OUTREACH_SECRET_KEY": SECRET,
            "OUTREACH_SMTP_URL": f"smtp://127.0.0.1:{port}",
            "OUTREACH_SMTP_RATE_PER_MINUTE": "100000000",  # exercised, never the limit here
            "OUTREACH_IMAP_URL": "",
        }
        os.environ.update({k: env[k] for k in ("OUTREACH_BROKER_URL", "OUTREACH_DATA_DIR")})
        from worker.settings import reset_settings

        reset_settings()
        console.print(
            f"N={args.n:,}, {CORES} cores, PostgreSQL + Redis on loopback, sink: "
            f"bench/smtp_sink.py; load average before: {load_average()}"
        )
        rows: list[tuple[str, int, dict[str, float]]] = []
        checks: list[tuple[str, float, str, bool]] = []
        plain = run_plain(args.n, port)
        rows.append(("plain sender (ceiling)", args.n, plain))
        e2e = run_end_to_end(args.n, url, env, folder)
        rows.append(("end to end (outbox + Celery)", args.n, e2e))
        rate_plain, rate_e2e = args.n / plain["seconds"], args.n / e2e["seconds"]
        checks.append(
            (
                "end to end / plain (msgs/s)",
                rate_e2e / rate_plain,
                ">= 0.80",
                rate_e2e >= 0.8 * rate_plain,
            )
        )
        if not args.skip_naive:
            naive = run_naive(args.n, url, env, folder, port)
            rows.append(("naive (task per email)", args.n, naive))
            rate_naive = args.n / naive["seconds"]
            checks.append(
                (
                    "end to end / naive (msgs/s)",
                    rate_e2e / rate_naive,
                    ">= 2.00",
                    rate_e2e >= 2 * rate_naive,
                )
            )
        if args.memory_check:
            big = run_end_to_end(4 * args.n, url, env, folder)
            rows.append(("end to end at 4N", 4 * args.n, big))
            growth = big["peak_mb"] / e2e["peak_mb"]
            checks.append(("worker peak RSS, 4N / N", growth, "<= 1.15", growth <= 1.15))
        console.print(results_table(rows))
        console.print(targets_table(checks))
        console.print(
            "CPU ms/msg: the whole machine's busy CPU (workers, PostgreSQL, Redis, sink) / N. "
            f"Load average after: {load_average()}"
        )
        if not all(ok for *_, ok in checks):
            raise SystemExit(1)
    finally:
        sink.send_signal(signal.SIGTERM)
        sink.wait()
        redis.Redis.from_url(REDIS_URL).flushdb()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    main()

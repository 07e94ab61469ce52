"""Reply intake throughput on PostgreSQL: store and process replies, as the service does.

    .venv/bin/python bench/intake.py [--invitations 100000] [--replies 3000]
                                     [--connections 20] [--workers 2] [--rounds 3]

A campaign of `--invitations` invited contacts (so lookups run against big tables), and
signature replies written the way mail clients write them (From the contact, To the
invitation's reply address, quoting nothing). Two phases, each on its own invitations:

1. **one process**: store each reply (`ingest`, its own transaction, as the IMAP poller
   does), `--batch` at a time, then process them as one "intake.process_batch" task does
   (`process_batch`: one transaction; match, verify, classify, sign, acknowledge). Prints SQL
   statements and commits per reply, and where this process's CPU went.
2. **end to end** (the target): an MTA delivers the replies over LMTP (`--connections` client
   processes, one message per transaction) to the real listener (`outreach intake lmtp`: the
   deliveries that arrive while a group is being stored are stored together, each answered
   once its group committed; what it stored in the last `GATHER_SECONDS` is handed on as one
   task) while `--workers` processes run those tasks (`process_batch(ids, fill=True)`, as the
   Celery intake task does: a task takes other waiting messages along). A multiprocessing
   queue stands in for the broker; acknowledgements are published to an in-memory broker.
   Timed from the first delivery to the last reply processed; start-up is outside the
   window. `--rounds` runs, each on replies of its own; the median is the figure.
   Prints replies/s, the CPU of the listener, the workers, PostgreSQL and the MTA, and how
   busy the whole machine was (what else ran in the window takes CPU from ours). Every
   process stays up until the window closes: exiting is outside it, as start-up is.

Target: >= 300 replies/s end to end. Exits 1 when missed.
"""

from __future__ import annotations

import argparse
import cProfile
import html
import multiprocessing
import os
import smtplib
import socket
import statistics
import sys
import time
from datetime import UTC, datetime
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as modern
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from sqlalchemy import create_engine, event, select, text  # noqa: E402

from bench.send import PG_ADMIN_URL, SECRET, store_campaign  # noqa: E402
from worker import migrate  # noqa: E402
from worker.actions.intake import BATCH_SIZE  # noqa: E402
from worker.worker_node import freeze_startup_heap  # noqa: E402


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


def machine_busy() -> tuple[float, float]:
    """Busy and steal CPU seconds of the whole machine so far (/proc/stat, all processes)."""
    fields = [int(f) for f in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    tick = os.sysconf("SC_CLK_TCK")
    idle = fields[3] + fields[4]  # idle, iowait
    steal = fields[7] if len(fields) > 7 else 0
    return (sum(fields[:8]) - idle - steal) / tick, steal / tick


def reply(email: str, token: str, n: int, invitation: bytes | None = None) -> bytes:
    """A signature reply as a mail client writes it. Given the invitation we sent: Gmail's
    way (text and HTML, the whole invitation quoted below "On ... wrote:", In-Reply-To and
    References to it), in the invitation's language; without: a bare "We sign." """
    msg = EmailMessage()
    msg["From"] = f"NGO {n} <{email}>"
    msg["To"] = f"signon+{token}@hrn.example"
    msg["Date"] = format_datetime(datetime.now(UTC))
    msg["Message-ID"] = make_msgid(domain=email.split("@")[1])
    if invitation is None:
        msg["Subject"] = "Re: Invitation to sign the joint letter"
        msg.set_content(f"We sign.\n\nNGO number {n}\n")
        return msg.as_bytes()
    sent = message_from_bytes(invitation, policy=modern)
    assert isinstance(sent, EmailMessage)
    msg["Subject"] = f"Re: {sent['Subject']}"
    msg["In-Reply-To"] = msg["References"] = sent["Message-ID"]
    part = sent.get_body(("plain",))
    assert part is not None
    text = part.get_content()  # type: ignore[attr-defined]
    answer = "賛同します。" if sent["Content-Language"] == "ja" else "Yes, we sign."
    quoted = "\n".join(f"> {line}" if line else ">" for line in text.splitlines())
    said = f"On {sent['Date']}, {sent['From']} wrote:"
    msg.set_content(f"{answer}\n\nNGO number {n}\n\n{said}\n\n{quoted}\n")
    lines = "<br>".join(html.escape(line) for line in text.splitlines())
    msg.add_alternative(
        f'<div dir="ltr">{answer}<br><br>NGO number {n}</div><br>'
        f'<div class="gmail_quote"><div dir="ltr" class="gmail_attr">'
        f'{html.escape(said)}<br></div><blockquote class="gmail_quote" style="margin:0px '
        f'0px 0px 0.8ex;border-left:1px solid rgb(204,204,204);padding-left:1ex">{lines}'
        f"</blockquote></div>",
        subtype="html",
    )
    return msg.as_bytes()


def send_invitations(url: str, campaign_id: int, n: int) -> None:
    """Queue the first `n` invitations' emails as the service does (rendered, with their
    Message-IDs), record them sent, and mark every other invitation invited."""
    from worker.actions.invite import invite
    from worker.db import session_scope
    from worker.models import Invitation
    from worker.settings import get_settings

    with session_scope(url) as session:
        ids = list(
            session.scalars(
                select(Invitation.id)
                .where(Invitation.campaign_id == campaign_id)
                .order_by(Invitation.id)
                .limit(n)
            )
        )
    for start in range(0, len(ids), 500):
        with session_scope(url) as session:
            invite(
                session,
                campaign_id,
                ids[start : start + 500],
                now=datetime.now(UTC),
                secret=get_settings().secret(),
            )
    with session_scope(url) as session:  # the service's engine: no second pool to leave open
        session.execute(text("UPDATE outbound_message SET state = 'sent', sent_at = now()"))
        session.execute(
            text(
                "UPDATE invitation SET state = 'invited', invited_at = now() "
                "WHERE state = 'pending'"
            )
        )


def environment(url: str) -> dict[str, str]:
    return {
        "OUTREACH_DATABASE_URL": url,
        "OUTREACH_SECRET_KEY": SECRET,
        "OUTREACH_BROKER_URL": "memory://",
        "OUTREACH_IMAP_URL": "",
        "OUTREACH_LOG_LEVEL": "WARNING",
    }


def start_process() -> None:
    """What every worker process does first: logging, and the publisher (in-memory broker)."""
    from worker.logs import configure_logging
    from worker.tasks.publisher import install_celery_publisher

    configure_logging()  # as every worker process does (level from OUTREACH_LOG_LEVEL)
    install_celery_publisher()


def replies_for(url: str, campaign_id: int, offset: int, n: int, quoting: bool) -> list[bytes]:
    from worker.core.kinds import EmailKind
    from worker.db import session_scope
    from worker.models import Contact, Invitation, OutboundMessage

    with session_scope(url) as session:
        rows = session.execute(
            select(Contact.email, Invitation.token, OutboundMessage.raw)
            .join(Invitation, Invitation.contact_id == Contact.id)
            .outerjoin(
                OutboundMessage,
                (OutboundMessage.invitation_id == Invitation.id)
                & (OutboundMessage.kind == EmailKind.INVITATION),
            )
            .where(Invitation.campaign_id == campaign_id)
            .order_by(Invitation.id)
            .offset(offset)
            .limit(n)
        ).all()
    if quoting:
        assert all(raw for _, _, raw in rows), "every replying invitation was sent"
    return [
        reply(email, token, offset + i, raw if quoting else None)
        for i, (email, token, raw) in enumerate(rows)
    ]


def one_process(url: str, mails: list[bytes], batch: int, profile: str | None) -> float:
    """Phase 1; returns replies/s."""
    from worker.actions.ingest import ingest
    from worker.actions.intake import process_batch, process_now
    from worker.db import get_engine, session_scope

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
    profiler = cProfile.Profile() if profile else None
    store_profiler = cProfile.Profile() if profile else None
    t0, c0 = time.perf_counter(), time.process_time()
    store_cpu = 0.0
    for start in range(0, n, batch):
        stored: list[int] = []
        s0 = time.process_time()
        if store_profiler:
            store_profiler.enable()
        for raw in mails[start : start + batch]:
            with session_scope(url) as session:
                inbound_id = ingest(session, raw, source="bench", now=datetime.now(UTC))
            assert inbound_id is not None
            stored.append(inbound_id)
        if store_profiler:
            store_profiler.disable()
        store_cpu += time.process_time() - s0
        if profiler:
            profiler.enable()
        outcomes = process_batch(stored) if batch > 1 else [process_now(stored[0])]
        if profiler:
            profiler.disable()
        for outcome in outcomes:
            actions[outcome.action] = actions.get(outcome.action, 0) + 1
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
    pg_cpu = backend_cpu(url) - pg0
    event.remove(get_engine(url), "before_cursor_execute", count)
    event.remove(get_engine(url), "commit", count_commit)
    if profiler and store_profiler:
        profiler.dump_stats(profile)
        store_profiler.dump_stats(f"{profile}.store")
    rate = n / elapsed
    print(f"1. one process: {n} replies (batch {batch}) in {elapsed:.1f} s: {rate:.0f} replies/s; "
          f"CPU per reply: this process {1000 * cpu / n:.1f} ms (storing "
          f"{1000 * store_cpu / n:.1f}, processing {1000 * (cpu - store_cpu) / n:.1f}), "
          f"its PostgreSQL backends {1000 * pg_cpu / n:.1f} ms; per reply "
          f"{trips / n:.1f} SQL statements + {commits / n:.1f} commits; "
          f"actions {actions}")  # fmt: skip
    return rate


def listener(
    url: str, port: int, tasks: Any, ready: Any, report: Any, drain: Any, finish: Any
) -> None:
    """`outreach intake lmtp`: the LMTP listener, storing deliveries in groups and handing on
    what it stored in the last `GATHER_SECONDS` as one task (here onto the queue that stands
    in for the broker)."""
    os.environ.update(environment(url))
    start_process()
    from worker.actions.intake import start_lmtp

    def hand_on(ids: list[int]) -> None:
        tasks.put(ids)  # one task, as `enqueue` sends one "intake.process_batch" per group

    controller = start_lmtp("127.0.0.1", port, on_stored=hand_on)
    freeze_startup_heap()  # as `outreach intake lmtp` does
    c0 = time.process_time()
    ready.put(os.getpid())
    drain.wait()  # every delivery was answered
    controller.stop()  # hands on what is still gathered
    tasks.close()
    tasks.join_thread()  # in the pipe before the report: the workers' stop comes after it
    report.put(("listener", time.process_time() - c0, {}))
    finish.wait()  # connections open until PostgreSQL's CPU is read


def mta(port: int, mails: list[bytes], ready: Any, go: Any, report: Any, finish: Any) -> None:
    """One connection of the MTA: delivers its share over LMTP, one message per transaction,
    on a connection it keeps (as Postfix's lmtp client does). It stays until the window ends:
    an MTA does not exit after a burst, and an exiting interpreter costs ~0.15 s of CPU that
    would be taken from the workers (20 connections: 3 s in an 8 s window). The envelope
    recipients are read before the window: an MTA has them in its queue file, and parsing a
    reply that quotes our letter costs more than delivering it."""
    envelopes = [(str(message_from_bytes(raw)["To"]), raw) for raw in mails]
    ready.put(os.getpid())
    go.wait()
    c0 = time.process_time()
    refused = 0
    with smtplib.LMTP("127.0.0.1", port) as lmtp:
        for rcpt, raw in envelopes:
            try:
                lmtp.sendmail("mta@bench.example", [rcpt], raw)
            except smtplib.SMTPException:
                refused += 1
    report.put(("mta", time.process_time() - c0, {"refused": refused} if refused else {}))
    finish.wait()


def worker(url: str, tasks: Any, ready: Any, go: Any, report: Any, finish: Any) -> None:
    """One intake worker process: run the tasks as the Celery intake task does."""
    os.environ.update(environment(url))
    start_process()
    from worker.actions.intake import process_batch

    freeze_startup_heap()  # as a Celery pool child does (worker_process_init)
    ready.put(os.getpid())
    go.wait()
    c0 = time.process_time()
    actions: dict[str, int] = {}
    while (ids := tasks.get()) is not None:
        for outcome in process_batch(ids, fill=True):
            actions[outcome.action] = actions.get(outcome.action, 0) + 1
    report.put(("worker", time.process_time() - c0, actions))
    finish.wait()


def end_to_end(url: str, mails: list[bytes], connections: int, workers: int) -> float:
    """Phase 2; returns replies/s."""
    ctx = multiprocessing.get_context("spawn")  # fresh interpreters: no pooled connection shared
    tasks, ready, report = ctx.Queue(), ctx.Queue(), ctx.Queue()
    go, finish = ctx.Event(), ctx.Event()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    drain = ctx.Event()
    procs = [ctx.Process(target=listener, args=(url, port, tasks, ready, report, drain, finish))]
    procs += [ctx.Process(target=mta, args=(port, mails[i::connections], ready, go, report, finish))
              for i in range(connections)]  # fmt: skip
    procs += [ctx.Process(target=worker, args=(url, tasks, ready, go, report, finish))
              for _ in range(workers)]  # fmt: skip
    for proc in procs:
        proc.start()
    for _ in procs:
        ready.get(timeout=120)
    n = len(mails)
    pg0 = backend_cpu(url)
    busy0, steal0 = machine_busy()
    t0 = time.perf_counter()
    go.set()
    reports = [report.get(timeout=600) for _ in range(connections)]
    delivered = time.perf_counter() - t0
    drain.set()  # every delivery answered: the listener hands on what it still gathers
    reports.append(report.get(timeout=60))
    for _ in range(workers):
        tasks.put(None)  # after every task (FIFO)
    reports += [report.get(timeout=600) for _ in range(workers)]
    elapsed = time.perf_counter() - t0
    busy1, steal1 = machine_busy()
    pg_cpu = backend_cpu(url) - pg0
    finish.set()
    for proc in procs:
        proc.join(timeout=30)
    cpu = {kind: sum(c for k, c, _ in reports if k == kind) for kind in ("listener", "worker")}
    mta_cpu = sum(c for k, c, _ in reports if k == "mta")
    actions: dict[str, int] = {}
    for _, _, found in reports:
        for action, count in found.items():
            actions[action] = actions.get(action, 0) + count
    rate = n / elapsed
    print(f"2. end to end: {n} replies delivered over LMTP ({connections} connections) to the "
          f"listener, {workers} worker processes, in {elapsed:.1f} s (all delivered at "
          f"{delivered:.1f} s): {rate:.0f} replies/s; "
          f"CPU per reply: listener {1000 * cpu['listener'] / n:.1f} ms, workers "
          f"{1000 * cpu['worker'] / n:.1f} ms, PostgreSQL {1000 * pg_cpu / n:.1f} ms (the MTA's "
          f"clients: {1000 * mta_cpu / n:.1f} ms); the whole machine was busy "
          f"{(busy1 - busy0) / elapsed:.2f} of {os.cpu_count()} CPUs (stolen by the "
          f"hypervisor: {(steal1 - steal0) / elapsed:.2f}); outcomes {actions}")  # fmt: skip
    signed = actions.get("signed", 0)
    if signed != n:
        print(f"   ERROR: {signed} of {n} replies signed")
        return 0.0
    return rate


def round_trip_cost(url: str, n: int = 2000) -> tuple[float, float]:
    """CPU and wall microseconds of one `SELECT 1` round trip on this machine (psycopg alone):
    the unit every statement pays, for comparing figures across machines."""
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg", "postgresql")) as conn:
        c0, t0 = time.process_time(), time.perf_counter()
        for _ in range(n):
            conn.execute("SELECT 1")
        return 1e6 * (time.process_time() - c0) / n, 1e6 * (time.perf_counter() - t0) / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--invitations", type=int, default=100_000)
    # 3,000: a burst of 1,000 lasts a few seconds, and filling and draining the pipeline (the
    # first group's wait, the last batch) weighed on the rate more than the steady state did.
    parser.add_argument("--replies", type=int, default=3000, help="per phase and round")
    parser.add_argument(
        "--batch", type=int, default=BATCH_SIZE, help="stored messages per task in phase 1"
    )
    # 20: Postfix's lmtp_destination_concurrency_limit ($default_destination_concurrency_limit).
    # With 4, each connection waits for its group's commit and the rate is bound by latency.
    parser.add_argument(
        "--connections", type=int, default=20, help="the MTA's parallel LMTP connections (phase 2)"
    )
    parser.add_argument("--workers", type=int, default=2, help="worker processes (phase 2)")
    parser.add_argument(
        "--rounds", type=int, default=3, help="phase 2 runs, each on its own replies (median)"
    )
    parser.add_argument(
        "--no-quoting",
        dest="quoting",
        action="store_false",
        help="replies say only 'We sign.' (no invitation sent, nothing quoted)",
    )
    parser.add_argument(
        "--profile",
        metavar="FILE",
        help="cProfile of phase 1's processing; its storing goes to FILE.store",
    )
    args = parser.parse_args()
    name = f"bench_intake_{os.getpid()}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    os.environ.update(environment(url))
    ok = False
    try:
        migrate.upgrade(url)
        start_process()
        t0 = time.perf_counter()
        campaign_id = store_campaign(url, args.invitations, "bench-intake", "open")
        send_invitations(url, campaign_id, (1 + args.rounds) * args.replies if args.quoting else 0)
        with create_engine(url, isolation_level="AUTOCOMMIT").connect() as conn:
            conn.execute(text("VACUUM ANALYZE"))
        first = replies_for(url, campaign_id, 0, args.replies, args.quoting)
        rounds = [
            replies_for(url, campaign_id, (1 + r) * args.replies, args.replies, args.quoting)
            for r in range(args.rounds)
        ]
        print(f"{args.invitations:,} invitations stored in {time.perf_counter() - t0:.0f} s")
        cpu_us, wall_us = round_trip_cost(url)
        print(f"one SELECT 1 round trip here: {cpu_us:.0f} us CPU, {wall_us:.0f} us wall")
        one_process(url, first, args.batch, args.profile)
        rates = [end_to_end(url, mails, args.connections, args.workers) for mails in rounds]
        rate = statistics.median(rates)
        print(f"   median of {len(rates)} rounds: {rate:.0f} replies/s "
              f"(rounds: {', '.join(f'{r:.0f}' for r in rates)})")  # fmt: skip
        ok = rate >= 300
        load = Path("/proc/loadavg").read_text().split()[:3]
        print(f"target >= 300 replies/s end to end: {'PASS' if ok else 'FAIL'}; "
              f"load average {load} on {os.cpu_count()} CPUs")  # fmt: skip
    finally:
        from worker.db import reset_engines

        reset_engines()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()

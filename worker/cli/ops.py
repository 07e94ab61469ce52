"""`outreach status`, `health` and `metrics`: is mail flowing, and what is stuck?"""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from worker.actions.health import CHECK_BITS, CHECKS, DEFAULT_CHECKS, exit_code, run_checks
from worker.actions.status import StatusReport, collect_status, format_duration
from worker.cli.apps import app
from worker.cli.console import make_console
from worker.settings import get_settings

metrics_app = typer.Typer(help="Prometheus metrics read from the database.", no_args_is_help=True)
app.add_typer(metrics_app, name="metrics")


def _report(campaign: str | None, ping_timeout: float) -> StatusReport:
    from worker.db import session_scope

    settings = get_settings()
    with session_scope(settings.resolved_database_url()) as session:
        return collect_status(session, settings, campaign_slug=campaign, ping_timeout=ping_timeout)


QUEUE_OF_ROLE = {"sending": "sending,scheduling,delivery", "intake": "intake"}


def render_status(report: StatusReport) -> RenderableType:
    """The report as aligned rich tables (dates in each campaign's timezone)."""
    parts: list[RenderableType] = []
    if not report.campaigns:
        parts.append(Text("No campaign yet: load one with `outreach campaign load FILE`."))
    # Two narrow tables rather than one wide one: both fit an 80-column terminal.
    schedule = Table(title="Campaigns", title_justify="left")
    schedule.add_column("campaign", no_wrap=True)
    schedule.add_column("state", no_wrap=True)
    schedule.add_column("deadline (campaign's timezone)", no_wrap=True)
    schedule.add_column("time left", justify="right", no_wrap=True)
    # The funnel runs down the page, one column per campaign.
    funnel = Table(title="Funnel", title_justify="left")
    funnel.add_column("")
    rows = [
        ("organisations", "organisations"),
        ("contacts (addresses)", "contacts"),
        ("invited", "invited"),
        ("delivered (SMTP accepted)", "delivered"),
        ("bounced", "bounced"),
        ("signed", "signed"),
        ("on the letter (one list)", "on_letter"),
        ("declined", "declined"),
        ("questions (wait for a lead)", "questions"),
        ("review items open", "review_open"),
        ("no answer yet", "no_answer"),
    ]
    for c in report.campaigns:
        funnel.add_column(c.slug, justify="right", no_wrap=True)
    for label, key in rows:
        funnel.add_row(label, *(str(c.funnel.__dict__[key]) for c in report.campaigns))
    for c in report.campaigns:
        left = Text(c.time_left, style="red" if c.seconds_to_deadline < 0 else "")
        schedule.add_row(c.slug, c.state, c.deadline_local, left)
    if report.campaigns:
        parts.extend([schedule, funnel])
    for c in report.campaigns:
        if c.schedule_warning:
            parts.append(Text(f"{c.slug}: {c.schedule_warning}", style="bold red"))

    outbox = Table(title="Outbox", title_justify="left")
    outbox.add_column("campaign", no_wrap=True)
    for header in (
        "due",
        "stuck",
        "retry",
        "failed",
        "held",
        "approval",
        "sent",
        "total",
    ):
        outbox.add_column(header, justify="right")

    def bad(n: int) -> Text:
        return Text(str(n), style="bold red" if n else "")

    for c in report.campaigns:
        o = c.outbox
        outbox.add_row(
            c.slug, str(o.due), bad(o.stuck_sending), str(o.retry), bad(o.failed), bad(o.held),
            str(o.awaiting_approval), str(o.sent), str(o.total),
        )  # fmt: skip
    if len(report.campaigns) != 1:
        o = report.outbox
        outbox.add_row(
            Text("all", style="bold"), str(o.due), bad(o.stuck_sending), str(o.retry),
            bad(o.failed), bad(o.held), str(o.awaiting_approval), str(o.sent), str(o.total),
        )  # fmt: skip
    parts.append(outbox)
    parts.append(
        Text(
            "due: time to send has come, not sent yet; stuck: in `sending` past its lease; "
            "held: needs `outreach outbox resolve`; approval: the final letter waits for "
            "`outreach campaign approve`",
            "dim",
        )
    )

    service = Table(title="Service", title_justify="left", show_header=False)
    service.add_column("what")
    service.add_column("value")
    service.add_row(
        "broker", report.broker + (f"  ({report.broker_error})" if report.broker_error else "")
    )
    if report.queues:
        depths = ", ".join(f"{q} {'?' if n is None else n}" for q, n in report.queues.items())
        service.add_row("queued tasks", depths)
    if report.workers is None:
        service.add_row("workers", Text("not asked / no answer from the broker", style="yellow"))
    elif report.workers:
        service.add_row("workers", f"{len(report.workers)} answer: {', '.join(report.workers)}")
        roles = {part for w in report.workers for part in w.split("@")[0].split("-")}
        for role in ("sending", "intake"):
            if role not in roles:
                hint = f"start `outreach worker --queues {QUEUE_OF_ROLE[role]}`"
                service.add_row("", Text(f"no {role}@ worker answers: {hint}", style="red"))
    else:
        service.add_row(
            "workers", Text("none answers a ping: start `outreach worker`", style="red")
        )
    if report.beat.age_seconds is None:
        service.add_row("beat", Text("never ticked: start `outreach beat`", style="red"))
    else:
        age = format_duration(report.beat.age_seconds).removeprefix("passed ").removesuffix(" ago")
        style = "red" if report.beat.stale else ""
        note = " (stale: is `outreach beat` running?)" if report.beat.stale else ""
        service.add_row("beat", Text(f"last tick {age} ago{note}", style=style))
    parts.append(service)
    return Group(*parts)


@app.command("status")
def status(
    campaign: Annotated[
        str | None, typer.Argument(help="Campaign slug; all when left out.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
    watch: Annotated[bool, typer.Option("--watch", help="Refresh until Ctrl-C.")] = False,
    interval: Annotated[float, typer.Option(help="Seconds between refreshes (--watch).")] = 2.0,
    ping_timeout: Annotated[
        float, typer.Option(help="Seconds to wait for workers to answer a ping (0: don't ask).")
    ] = 1.0,
) -> None:
    """Per campaign: the funnel and time left; the outbox; queues, workers and beat."""
    if as_json and not watch:
        typer.echo(
            json.dumps(_report(campaign, ping_timeout).to_json(), ensure_ascii=False, indent=2)
        )
        return
    console = make_console()
    if not watch:
        console.print(render_status(_report(campaign, ping_timeout)))
        return
    from rich.live import Live

    try:
        with Live(console=console, auto_refresh=False, screen=False) as live:
            while True:
                report = _report(campaign, ping_timeout)
                if as_json:
                    console.print_json(json.dumps(report.to_json(), ensure_ascii=False))
                else:
                    stamp = Text(
                        f"{datetime.now(UTC).astimezone().strftime('%H:%M:%S')} "
                        f"(every {interval:g}s, Ctrl-C to stop)",
                        style="dim",
                    )
                    live.update(Group(render_status(report), stamp), refresh=True)
                time.sleep(interval)
    except KeyboardInterrupt:
        return


@app.command("health")
def health(
    check: Annotated[
        list[str] | None,
        typer.Option(
            "--check",
            "-c",
            help=f"Run only these checks (repeatable): {', '.join(CHECKS)}. "
            f"Default: {', '.join(DEFAULT_CHECKS)}.",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    timeout: Annotated[float, typer.Option(help="Seconds per network check.")] = 5.0,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only failures.")] = False,
) -> None:
    """Are the database, broker, SMTP, IMAP reachable and beat ticking? For container health checks.

    Exit status: 0 when every check passed, else the sum of the failed checks' bits:
    db 1, broker 2, smtp 4, imap 8, beat 16, lmtp 32, bounces 64 (e.g. 18 = broker and beat
    failed; bounces: no delivery report arrived although much mail went out a day ago).
    """
    names = check or list(DEFAULT_CHECKS)
    unknown = [n for n in names if n not in CHECKS]
    if unknown:
        typer.secho(
            f"error: unknown check {', '.join(unknown)}; choose from {', '.join(CHECKS)}",
            err=True,
            fg=typer.colors.RED,
        )
        raise typer.Exit(64)
    results = run_checks(get_settings(), names, timeout)
    code = exit_code(results)
    if as_json:
        typer.echo(
            json.dumps(
                {"ok": code == 0, "exit_code": code, "checks": [r.to_json() for r in results]},
                ensure_ascii=False,
            )
        )
    else:
        table = Table(show_header=False, box=None)
        table.add_column("mark")
        table.add_column("check")
        table.add_column("bit", justify="right", style="dim")
        table.add_column("detail")
        for r in results:
            if quiet and r.ok:
                continue
            mark = Text("ok", style="green") if r.ok else Text("FAIL", style="bold red")
            if r.skipped:
                mark = Text("off", style="dim")
            table.add_row(mark, r.name, str(CHECK_BITS[r.name]), r.detail)
        make_console(file=sys.stdout).print(table)
    raise typer.Exit(code)


@metrics_app.command("serve")
def metrics_serve(
    port: Annotated[int | None, typer.Option(help="Default: OUTREACH_METRICS_PORT.")] = None,
    addr: Annotated[
        str | None, typer.Option(help="Address to listen on. Default: OUTREACH_METRICS_HOST.")
    ] = None,
) -> None:
    """Serve /metrics for Prometheus (values read from the database at each scrape)."""
    from worker.logs import configure_logging, get_logger
    from worker.metrics import serve

    configure_logging()
    settings = get_settings()
    chosen = port or settings.metrics_port
    addr = addr or settings.metrics_host
    serve(chosen, addr)
    get_logger(__name__).info("metrics.serving", addr=addr, port=chosen)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        return


@metrics_app.command("write")
def metrics_write(
    path: Annotated[
        Path, typer.Argument(help="e.g. /var/lib/node_exporter/textfile/outreach.prom")
    ],
) -> None:
    """Write the metrics once for node exporter's textfile collector (from cron or a timer)."""
    from worker.metrics import write_textfile

    write_textfile(path)
    typer.echo(f"metrics written to {path}")

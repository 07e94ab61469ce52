"""`outreach demo`: the whole service on the seed campaign, in a few minutes, with no server."""

from __future__ import annotations

import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from worker.cli.apps import app
from worker.cli.console import make_console
from worker.settings import PROJECT_ROOT


def _live_view(demo: object) -> RenderableType:
    from worker.demo import Demo

    assert isinstance(demo, Demo)
    elapsed = (datetime.now(UTC) - demo.started).total_seconds()
    o = demo.options
    clock = Table.grid(padding=(0, 2))
    clock.add_row(
        Text(demo.phase, style="bold cyan"),
        Text(f"+{elapsed:.0f}s", style="bold"),
        Text(f"reminders at +{o.reminder_at:.0f}s", style="dim"),
        Text(f"deadline at +{o.deadline_at:.0f}s", style="dim"),
    )
    figures = Table(box=None, show_header=True, header_style="bold")
    for header in ("invited", "delivered", "signed", "declined", "questions", "bounced",
                   "no answer", "reminders", "final letter", "notices"):  # fmt: skip
        figures.add_column(header, justify="right")
    try:
        row = _figures()
    except Exception:  # the database is being created
        row = ["-"] * 10
    figures.add_row(*row)
    events = Text("\n".join(demo.events[-12:]) or "…", style="dim")
    return Panel(
        Group(clock, Text(""), figures, Text(""), events),
        title="outreach demo: ICC joint letter (accelerated)",
        title_align="left",
    )


def _figures() -> list[str]:
    from worker.actions.outbox_views import sent_by_kind
    from worker.actions.status import gather_status
    from worker.db import session_scope

    with session_scope() as session:
        report = gather_status(session, datetime.now(UTC))
        kinds = sent_by_kind(session)
    if not report.campaigns:
        return ["-"] * 10
    f = report.campaigns[0].funnel
    return [
        str(f.invited), str(f.delivered), str(f.signed), str(f.declined), str(f.questions),
        str(f.bounced), str(f.no_answer), str(kinds.get("reminder", 0)),
        str(kinds.get("final_letter", 0)), str(kinds.get("delivered_notice", 0)),
    ]  # fmt: skip


@app.command("demo")
def demo(
    folder: Annotated[
        Path, typer.Option("--dir", help="Where the demo keeps everything (wiped at start).")
    ] = Path("data/demo"),
    reminder_at: Annotated[
        float, typer.Option(help="Seconds after the start when the reminder round is due.")
    ] = 60.0,
    deadline_at: Annotated[
        float, typer.Option(help="Seconds after the start of the deadline.")
    ] = 85.0,
    timeout: Annotated[float, typer.Option(help="Give up after this many seconds.")] = 300.0,
    quiet: Annotated[bool, typer.Option("--quiet", help="No live display.")] = False,
) -> None:
    """Run the seed campaign end to end in accelerated time, on this machine, with no server.

    Starts the real worker, beat and LMTP intake on SQLite and a folder broker; a local SMTP
    server captures every email; simulated NGOs reply (sign, in English and Japanese, with a
    requested name; decline; ask; out-of-office; bounce; silence). Ends with a summary table
    and the paths of the captured emails and the final letter's PDFs.
    """
    from worker.demo import Demo, DemoFailed, Options

    if deadline_at <= reminder_at:
        raise typer.BadParameter("--deadline-at must be later than --reminder-at")
    console = make_console(markup=True)  # our own messages; exception text is escaped
    options = Options(
        root=folder.resolve(),
        reminder_at=reminder_at,
        deadline_at=deadline_at,
        timeout=timeout,
        quiet=quiet,
    )
    console.print(
        f"[bold]outreach demo[/bold]: the ICC joint letter to Japan's Foreign Minister, "
        f"from invitations to delivery in about {deadline_at + 30:.0f} seconds.\n"
        f"Everything is kept in {options.root} (wiped now)."
    )
    source = PROJECT_ROOT / "config" / "campaigns"
    if quiet or not console.is_terminal:
        runner = Demo(options, source, report=lambda line: console.print(line, highlight=False))
        try:
            result = runner.run(_no_tick)
        except DemoFailed as exc:
            console.print(f"[red]demo stopped:[/red] {escape(str(exc))}")
            raise typer.Exit(1) from None
    else:
        with Live(console=console, refresh_per_second=4, transient=False) as live:
            runner = Demo(options, source, report=lambda line: None)

            def tick(d: Demo) -> None:
                live.update(_live_view(d))

            try:
                result = runner.run(tick)
            except DemoFailed as exc:
                live.stop()
                console.print(f"[red]demo stopped:[/red] {escape(str(exc))}")
                raise typer.Exit(1) from None
    _print_summary(console, result)
    from worker.cli.demo_web import open_console
    from worker.demo import SLUG

    interactive = not quiet and console.is_terminal and sys.stdin.isatty()
    open_console(console, result.root / "data", SLUG, keep_running=interactive)


def _no_tick(_: object) -> None:
    return None


def _print_summary(console: Console, result: object) -> None:
    from worker.demo import Result

    assert isinstance(result, Result)
    table = Table(title="Organisations", title_justify="left")
    table.add_column("organisation")
    table.add_column("lang")
    table.add_column("simulated reply")
    table.add_column("outcome")
    table.add_column("reminders", justify="right")
    for row in result.rows:
        style = {"signed": "green", "declined": "yellow", "bounced": "red"}.get(row.outcome, "")
        table.add_row(
            row.organisation, row.language, row.scenario, Text(row.outcome, style=style),
            str(row.reminded),
        )  # fmt: skip
    console.print(table)

    outcomes = Counter(r.outcome for r in result.rows)
    totals = Table(title="Summary", title_justify="left", show_header=False)
    totals.add_column("what")
    totals.add_column("count", justify="right")
    organisations = len({r.organisation for r in result.rows})
    for label, value in (
        ("organisations invited", organisations),
        ("signed (in the final letter)", len(result.signed)),
        ("declined", outcomes.get("declined", 0)),
        ("questions for the lead", outcomes.get("question", 0)),
        ("bounced addresses", outcomes.get("bounced", 0) + outcomes.get("replaced", 0)),
        ("never answered", outcomes.get("invited", 0)),
        ("reminders sent", result.counts.get("reminder:sent", 0)),
        ("acknowledgements sent", result.counts.get("acknowledgement:sent", 0)),
        ("final letter to the ministry", result.counts.get("final_letter:sent", 0)),
        ("'delivered' notices", result.counts.get("delivered_notice:sent", 0)),
    ):
        totals.add_row(label, str(value))
    console.print(totals)
    agree = sorted(result.signed) == sorted(result.expected_signers)
    console.print(
        f"Signatories recorded: {len(result.signed)}; simulated signers: "
        f"{len(result.expected_signers)} — "
        + ("[green]they match[/green]" if agree else "[red]they differ[/red]")
    )
    console.print(
        f"\nCampaign state: [bold]{result.campaign_state}[/bold] after {result.seconds:.0f}s"
    )
    console.print(f"Captured emails:   {result.mail_dir}/")
    console.print(f"Simulated replies: {result.replies_dir}/")
    for path in result.final_letters:
        console.print(f"Final letter:      {path}")
    for path in result.pdfs:
        console.print(f"PDF:               {path}")
    console.print(f"Summary (JSON):    {result.root / 'summary.json'}")
    console.print("\nNext, as the campaign's lead (each line works as printed, from this folder):")
    for command, why in tour(result.root, Path.cwd()):
        console.print(f"  {command}", highlight=False, markup=False, soft_wrap=True)
        console.print(f"      {why}", style="dim", highlight=False)
    console.print(
        "To type plain `outreach ...` instead: `source .venv/bin/activate` and "
        f"`export OUTREACH_DATA_DIR={_shown(result.root / 'data', Path.cwd())}`.",
        highlight=False, markup=False, soft_wrap=True,
    )  # fmt: skip


def _shown(path: Path, cwd: Path) -> str:
    """A path as short as it can be printed: relative to `cwd` when it lies beneath it."""
    return str(path.relative_to(cwd)) if path.is_relative_to(cwd) else str(path)


def outreach_command(cwd: Path) -> str:
    """How to call this very installation: `outreach` when it is on PATH, else its path."""
    import shutil
    import sys

    mine = Path(sys.executable).parent / "outreach"
    found = shutil.which("outreach")
    if found and Path(found).resolve() == mine.resolve():
        return "outreach"
    return _shown(mine.absolute(), cwd)


def tour(root: Path, cwd: Path) -> list[tuple[str, str]]:
    """The three commands a lead types after the demo, ready to paste (tests run each)."""
    from worker.demo import SLUG

    run = f"OUTREACH_DATA_DIR={_shown(root / 'data', cwd)} {outreach_command(cwd)}"
    return [
        (f"{run} status", "where the campaign stands: the funnel, the outbox, workers and beat"),
        (f"{run} review list", "the replies a person must decide (the demo's question is there)"),
        (f"{run} evidence {SLUG} -o {_shown(root / 'evidence', cwd)}",
         "who consented, when and how, with the raw replies (what you keep)"),
    ]  # fmt: skip

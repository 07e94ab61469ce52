"""The `outreach` command: one entry point, errors printed for people, not as tracebacks."""

from __future__ import annotations

import sys

import typer

from worker.cli import db as _db  # noqa: F401  (registers commands)
from worker.cli.apps import app
from worker.errors import UserError

# Command modules register themselves on import; keep this list in one place.
_MODULES = [
    "worker.cli.classify",
    "worker.cli.campaign",
    "worker.cli.contacts",
    "worker.cli.preview",
    "worker.cli.sending",
    "worker.cli.review",
    "worker.cli.letter",
    "worker.cli.evidence",
    "worker.cli.ops",
    "worker.cli.demo",
    "worker.cli.web",
]


def _load_commands() -> None:
    import importlib

    for name in _MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # not written yet
                continue
            raise
        register = getattr(module, "register", None)
        if register is not None:
            register(app)


def main() -> None:
    from worker.tasks.publisher import install_celery_publisher

    install_celery_publisher()  # actions publish through this port; Celery loads on first use
    _load_commands()
    try:
        result = app(standalone_mode=False)
        # In non-standalone mode click returns the code of a `typer.Exit` instead of exiting.
        if isinstance(result, int) and result:
            sys.exit(result)
    except UserError as exc:
        typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
        sys.exit(2)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        typer.echo("aborted", err=True)
        sys.exit(1)
    except Exception as exc:  # click usage errors come through here in non-standalone mode
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        _report_crash(exc)


def _report_crash(exc: Exception) -> None:
    """An unexpected failure: the traceback goes through the log (plain, secrets redacted,
    no local variables), then one line says what failed; exit status 1."""
    from worker.logs import Redactor, configure_logging, get_logger, is_configured, known_secrets
    from worker.settings import get_settings

    if not is_configured():
        configure_logging()
    get_logger("outreach").error("cli.failed", exc_info=exc)
    message = Redactor(known_secrets(get_settings())).scrub(f"{type(exc).__name__}: {exc}")
    typer.secho(f"error: {message} (the log above has the details)", err=True, fg="red")
    sys.exit(1)


__all__ = ["app", "main"]

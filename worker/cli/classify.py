"""`outreach classify PATH...`: one JSON line per message, for checking replies by hand."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from worker.actions.classify_files import classify_file


def _line(path: Path) -> str:
    return json.dumps(classify_file(path), ensure_ascii=False)


def classify_command(
    paths: list[Path] = typer.Argument(..., exists=True, dir_okay=False, readable=True),  # noqa: B008
) -> None:
    """Classify raw .eml files; prints one JSON object per message per line."""
    for path in paths:
        typer.echo(_line(path))


def register(app: typer.Typer) -> None:
    """Attach `classify` to the main `outreach` app."""
    app.command("classify")(classify_command)

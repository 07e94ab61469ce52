"""`outreach classify PATH...`: one JSON line per message, for checking replies by hand."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from worker.core.classify import classify


def _line(path: Path) -> str:
    result = classify(path.read_bytes())
    return json.dumps(
        {
            "path": str(path),
            "intent": result.intent.value,
            "name": result.name,
            "bounced_recipient": result.bounced_recipient,
            "transient": result.transient,
            "reasons": list(result.reasons),
            "language": result.language,
            "return_date": result.return_date.isoformat() if result.return_date else None,
        },
        ensure_ascii=False,
    )


def classify_command(
    paths: list[Path] = typer.Argument(..., exists=True, dir_okay=False, readable=True),  # noqa: B008
) -> None:
    """Classify raw .eml files; prints one JSON object per message per line."""
    for path in paths:
        typer.echo(_line(path))


def register(app: typer.Typer) -> None:
    """Attach `classify` to the main `outreach` app."""
    app.command("classify")(classify_command)

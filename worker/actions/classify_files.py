"""Classify raw messages read from files, for a person checking replies by hand."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from worker.core.classify import classify


def classify_file(path: Path) -> dict[str, Any]:
    """The classifier's verdict on one .eml file, as plain JSON-ready values."""
    result = classify(path.read_bytes())
    return {
        "path": str(path),
        "intent": result.intent.value,
        "name": result.name,
        "bounced_recipient": result.bounced_recipient,
        "transient": result.transient,
        "reasons": list(result.reasons),
        "language": result.language,
        "return_date": result.return_date.isoformat() if result.return_date else None,
    }

"""Labelled reply corpora for the classifier tests: the shared one and our own fixtures."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
SHARED_REPLIES = REPO.parent / "shared" / "replies"
OWN_REPLIES = REPO / "tests" / "fixtures" / "replies"
SENT_DIR = OWN_REPLIES / "sent"


@dataclass(frozen=True)
class Case:
    """One labelled .eml file."""

    path: Path
    label: dict[str, Any]

    @property
    def id(self) -> str:
        return self.path.name


def load_cases(folder: Path) -> list[Case]:
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    return [Case(folder / entry["file"], entry) for entry in manifest]


def shared_cases() -> list[Case]:
    if not (SHARED_REPLIES / "manifest.json").exists():
        return []
    return load_cases(SHARED_REPLIES)


def all_cases() -> list[Case]:
    return shared_cases() + load_cases(OWN_REPLIES)


def sent_texts() -> list[str]:
    """The invitation texts we sent (what intake would pass as `sent_texts`)."""
    return [p.read_text(encoding="utf-8") for p in sorted(SENT_DIR.glob("*.txt"))]


def require_shared() -> None:
    if not (SHARED_REPLIES / "manifest.json").exists():
        pytest.skip(f"shared reply corpus not found at {SHARED_REPLIES} (beside the checkout)")

"""Fixtures for campaign loading and contact import: a private copy of the seed campaign files."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from worker.models import Base

REPO = Path(__file__).resolve().parents[2]
SEED_DIR = REPO / "config" / "campaigns"


@pytest.fixture
def campaign_dir(tmp_path: Path) -> Path:
    """The seed campaign's files, copied so a test may edit them."""
    folder = tmp_path / "campaigns"
    folder.mkdir()
    for path in SEED_DIR.glob("icc-2024*"):
        shutil.copy(path, folder / path.name)
    return folder


def snapshot(session: Session) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, so a test can prove that nothing changed."""
    session.expire_all()
    out: dict[str, list[tuple[Any, ...]]] = {}
    for table in Base.metadata.sorted_tables:
        rows = session.execute(select(table)).all()
        out[table.name] = sorted((tuple(r) for r in rows), key=repr)
    session.rollback()
    return out


@pytest.fixture
def outreach(env: dict[str, str]) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run the real `outreach` command in a subprocess with this test's environment."""

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", "from worker.cli import main; main()", *args],
            capture_output=True,
            text=True,
            env={**os.environ, **env, "COLUMNS": "200"},
            cwd=REPO,
            timeout=120,
            check=False,
        )

    return run

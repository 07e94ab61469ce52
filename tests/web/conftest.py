"""Fixtures for the web console: the app on this test's database, accounts, a logged-in client."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from worker.actions.users import add_user
from worker.web.app import create_app

LEAD = ("lead@hrn.example", "correct horse battery")
VIEWER = ("viewer@hrn.example", "viewer password 123")
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "the page has no CSRF field"
    return found.group(1)


@pytest.fixture
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """SQLite only here: the console's pages call actions whose PostgreSQL behaviour is tested
    with those actions; this keeps the browser-facing tests inside their time budget."""
    import shutil

    from worker.db import reset_engines

    template: Path = request.getfixturevalue("sqlite_template")
    path = tmp_path / "test.sqlite3"
    shutil.copy(template, path)
    yield f"sqlite:///{path}"
    reset_engines()


@pytest.fixture(autouse=True)
def _cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """argon2id at its smallest cost: the same code path, milliseconds instead of a second of
    CPU per login on a shared CI machine (the production cost is the library's default)."""
    from argon2 import PasswordHasher

    from worker.actions import users

    monkeypatch.setattr(users, "_HASHER", PasswordHasher(time_cost=1, memory_cost=1024,
                                                         parallelism=1))  # fmt: skip


@pytest.fixture
def accounts(session: Session) -> None:
    now = datetime.now(UTC)
    add_user(session, LEAD[0], "lead", LEAD[1], now=now)
    add_user(session, VIEWER[0], "viewer", VIEWER[1], now=now)
    session.commit()


@pytest.fixture
def client(
    env: dict[str, str], accounts: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[TestClient]:
    from worker.settings import reset_settings

    monkeypatch.setenv("OUTREACH_CAMPAIGNS_DIR", str(tmp_path / "campaigns"))
    reset_settings()
    with TestClient(create_app(), follow_redirects=False) as c:
        yield c


def login(client: TestClient, who: tuple[str, str]) -> str:
    """Log in through the form as a browser would; returns a page's CSRF token."""
    token = csrf_of(client.get("/login").text)
    response = client.post("/login", data={"email": who[0], "password": who[1],
                                           "csrf_token": token})  # fmt: skip
    assert response.status_code == 303, response.text
    return csrf_of(client.get("/").text)

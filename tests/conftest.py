"""Shared fixtures: a fresh migrated database per test, on SQLite and on the real PostgreSQL."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session
from support.redis_server import session_redis_url

from worker import migrate
from worker.celery_app import app as _celery_app
from worker.db import reset_engines, session_factory
from worker.settings import reset_settings
from worker.tasks.publisher import install_celery_publisher

# A SIGTERM to the test run unwinds like Ctrl-C (tests/support/unwind.py).
pytest_plugins = ["support.unwind"]

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
# Actions publish tasks through a port; the test process publishes through Celery like the CLI.
install_celery_publisher()
PG_ADMIN_URL = os.environ.get(
    "OUTREACH_TEST_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
# The session's own Redis (tests/support/redis_server.py), announced to every test module and
# child process through OUTREACH_TEST_REDIS_URL; a Redis already running here is never used.
# Under pytest-xdist every worker inherits the controller's environment: a Redis the controller
# started for itself is not shared (tests flush their database and hold beat's lock), each
# worker starts its own. A Redis the caller gave stays the caller's choice.
if os.environ.get("PYTEST_XDIST_WORKER") and os.environ.get("OUTREACH_TEST_REDIS_STARTED_BY"):
    del os.environ["OUTREACH_TEST_REDIS_URL"]
REDIS_URL, _OWN_REDIS = session_redis_url()
os.environ["OUTREACH_TEST_REDIS_URL"] = REDIS_URL
if _OWN_REDIS is not None:
    os.environ["OUTREACH_TEST_REDIS_STARTED_BY"] = str(os.getpid())
# Tasks published from this process go to that Redis from the first publish on: Celery keeps
# the connection pool it made at its first publish, so a broker set later by an area's conftest
# was ignored once an earlier test (tests/intake) had published to the default broker.
_celery_app.conf.broker_url = REDIS_URL
_celery_app.conf.broker_transport_options = {"visibility_timeout": 3600}
# Code that falls back to the embedded defaults writes under a temporary folder, never into
# the checkout (./data); the `env` fixture gives each test its own.
_SESSION_DATA = tempfile.mkdtemp(prefix="outreach-test-data-")
os.environ.setdefault("OUTREACH_DATA_DIR", _SESSION_DATA)


def pytest_report_header() -> str:
    owner = "started by this session" if _OWN_REDIS else "from OUTREACH_TEST_REDIS_URL"
    return f"test Redis: {REDIS_URL} ({owner})"


def pytest_unconfigure() -> None:
    if _OWN_REDIS is not None:
        _OWN_REDIS.stop()
    shutil.rmtree(_SESSION_DATA, ignore_errors=True)


def _pg_admin() -> object:
    return create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    """A migrated PostgreSQL database that each test copies (CREATE DATABASE ... TEMPLATE)."""
    name = f"outreach_tpl_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # pragma: no cover - only when the server is down
        pytest.fail(f"PostgreSQL at {PG_ADMIN_URL} is not reachable ({exc}); run .ci/run")
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    migrate.upgrade(url)
    reset_engines()
    yield name
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "template.sqlite3"
    migrate.upgrade(f"sqlite:///{path}")
    reset_engines()
    return path


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, migrated, empty database: a SQLite file or a new PostgreSQL database."""
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path / "outreach.sqlite3"
        path.write_bytes(template.read_bytes())
        yield f"sqlite:///{path}"
        reset_engines()
        return
    tpl: str = request.getfixturevalue("pg_template")
    name = f"outreach_t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{tpl}"'))
    yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    reset_engines()
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def env(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """Environment for code under test: this test's database, data dir and a fixed secret."""
    values = {
        "OUTREACH_DATABASE_URL": db_url,
        "OUTREACH_DATA_DIR": str(tmp_path / "data"),
        "OUTREACH_SECRET_KEY": "test-secret-key-not-for-production",
    }
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    reset_settings()
    yield values
    reset_settings()


@pytest.fixture
def session(env: dict[str, str]) -> Iterator[Session]:
    s = session_factory(env["OUTREACH_DATABASE_URL"])()
    yield s
    s.close()


@pytest.fixture
def shared_replies() -> Path:
    folder = SHARED / "replies"
    if not folder.is_dir():
        pytest.skip(f"{folder} is absent (it ships beside the checkout, not in it)")
    return folder

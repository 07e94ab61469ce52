"""Start-up safety: the shared key required on a database server, key files private from the
first byte, metrics on loopback unless told otherwise."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from worker.settings import MissingSecretKey, Settings

REPO = Path(__file__).resolve().parents[2]
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def test_a_database_server_without_the_key_is_refused_with_what_to_do(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, database_url=PG_URL, secret_key="")
    with pytest.raises(MissingSecretKey) as caught:
        settings.secret()
    assert "OUTREACH_SECRET_KEY" in str(caught.value) and "every host" in str(caught.value)
    assert not (tmp_path / "secret_key").exists()  # nothing generated behind the lead's back


def test_a_celery_worker_on_a_database_server_without_the_key_does_not_start(
    tmp_path: Path,
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OUTREACH_")}
    env.update(OUTREACH_DATABASE_URL=PG_URL, OUTREACH_DATA_DIR=str(tmp_path),
               OUTREACH_BROKER_URL="memory://")
    done = subprocess.run(
        [sys.executable, "-m", "celery", "-A", "worker.celery_app", "worker", "--pool=solo",
         "--concurrency=1", "--without-heartbeat", "--without-mingle", "--without-gossip"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=60,
    )
    assert done.returncode != 0
    assert "OUTREACH_SECRET_KEY is not set" in done.stdout + done.stderr


def test_the_generated_key_file_is_private_and_one_key_wins_a_race(tmp_path: Path) -> None:
    def make() -> bytes:
        return Settings(data_dir=tmp_path, database_url="", secret_key="").secret()

    with ThreadPoolExecutor(8) as pool:
        keys = set(pool.map(lambda _: make(), range(16)))
    assert len(keys) == 1
    key_file = tmp_path / "secret_key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["secret_key"]  # no temporary left over


def test_metrics_listen_on_loopback_by_default() -> None:
    from worker.metrics import serve

    assert Settings().metrics_host == "127.0.0.1"
    server, thread = serve(0, database_url="sqlite://")
    try:
        assert server.server_address[0] == "127.0.0.1"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)

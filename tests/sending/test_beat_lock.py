"""Beat's leader stands down on a clock: a leader blocked on a dead link must not still count
itself leading when its lock expires and another host's beat takes over."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from celery import Celery

from worker import beat
from worker.actions.beat import BEAT_LOCK_KEY, LeaderLock
from worker.celery_app import app, make_app
from worker.settings import get_settings

from .conftest import REDIS_URL


def make_app_on(broker: str) -> Celery:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("OUTREACH_BROKER_URL", broker)
        get_settings.cache_clear()
        try:
            return make_app()
        finally:
            get_settings.cache_clear()


pytestmark = pytest.mark.redis
TTL = 1.0


@pytest.fixture
def scheduler(
    redis_db: redis.Redis, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[beat.SingletonScheduler]:
    monkeypatch.setattr(beat, "STAND_DOWN_MARGIN", 0.3)
    monkeypatch.setattr(beat, "WATCH_SECONDS", 0.02)
    client = redis.Redis.from_url(REDIS_URL, socket_timeout=2.0)
    monkeypatch.setattr(beat, "make_lock", lambda: LeaderLock(client, "here:1:test", TTL))
    made = beat.SingletonScheduler(app=app, schedule_filename=str(tmp_path / "schedule"))
    yield made
    made.close()


def test_a_leader_that_cannot_renew_stands_down_before_its_key_expires(
    scheduler: beat.SingletonScheduler, redis_db: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="worker.beat")
    started = time.monotonic()
    scheduler.tick()
    assert scheduler.leading and redis_db.get(BEAT_LOCK_KEY) == b"here:1:test"
    # No further tick: the main thread is as good as stuck in a publish on a dead link.
    while scheduler.leading and time.monotonic() - started < 3 * TTL:
        time.sleep(0.01)
    stood_down = time.monotonic()
    assert not scheduler.leading
    assert stood_down < started + TTL, "it still led when its key could expire"
    assert redis_db.pttl(BEAT_LOCK_KEY) > 0  # another beat could not have taken over yet
    assert [r.getMessage().split(": ")[-1] for r in caplog.records] == ["leading", "standing by"]


def test_a_leader_past_its_margin_sends_nothing(
    scheduler: beat.SingletonScheduler, redis_db: redis.Redis
) -> None:
    scheduler.tick()
    entry = scheduler.schedule["scan.due"]
    time.sleep(TTL - 0.2)  # inside the key's life, past the stand-down margin
    assert scheduler.apply_async(entry) is None
    assert redis_db.llen("scheduling") == 0
    scheduler.tick()  # renewing makes it lead, and send, again
    assert scheduler.leading
    assert scheduler.apply_async(entry) is not None
    assert redis_db.llen("scheduling") == 1


def test_beat_publishes_once_on_sockets_that_time_out() -> None:
    """A retried publish, or one with no timeout, could outlive the lock on a dead link."""
    assert all(e["options"]["retry"] is False for e in app.conf.beat_schedule.values())
    options = make_app_on("redis://127.0.0.1:1/0").conf.broker_transport_options
    assert options["socket_timeout"] + beat.WATCH_SECONDS < beat.STAND_DOWN_MARGIN
    assert options["socket_connect_timeout"] + beat.WATCH_SECONDS < beat.STAND_DOWN_MARGIN
